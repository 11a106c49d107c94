ALTER TABLE member_counts RESET (fillfactor);
