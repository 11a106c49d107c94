//! The one schema for both backends, in portable SQL types only (see migrations/).

diesel::table! {
    users (id) {
        id -> Text,
        first_name -> Text,
        last_name -> Text,
        email -> Text,
        email_verified -> Bool,
        password_hash -> Nullable<Text>,
        project_id -> Nullable<Text>,
        mfa_secret -> Nullable<Text>,
        mfa_enrolled -> Bool,
        mfa_last_step -> Nullable<BigInt>,
        super_admin -> Bool,
        security_stamp -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_signin_at -> Nullable<Timestamp>,
        theme -> Nullable<Text>,
    }
}

diesel::table! {
    projects (id) {
        id -> Text,
        name -> Text,
        description -> Text,
        owner_id -> Text,
        default_patient_policy_id -> Nullable<Text>,
        require_mfa -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    access_policies (id) {
        id -> Text,
        project_id -> Text,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    access_policy_rules (id) {
        id -> Text,
        policy_id -> Text,
        position -> Integer,
        resource_type -> Text,
        read_only -> Bool,
        criteria -> Nullable<Text>,
    }
}

diesel::table! {
    profiles (id) {
        id -> Text,
        project_id -> Text,
        resource_type -> Text,
        first_name -> Text,
        last_name -> Text,
        prefix -> Nullable<Text>,
        suffix -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        gender -> Nullable<Text>,
        birth_date -> Nullable<Date>,
        language -> Nullable<Text>,
        qualifications -> Text,
        photo -> Nullable<Binary>,
        photo_content_type -> Nullable<Text>,
        photo_updated_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sort_first -> Text,
        sort_last -> Text,
        search_text -> Text,
        identifiers -> Text,
    }
}

diesel::table! {
    client_applications (id) {
        id -> Text,
        project_id -> Text,
        name -> Text,
        description -> Text,
        redirect_uri -> Nullable<Text>,
        secret_hash -> Text,
        super_admin -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    memberships (id) {
        id -> Text,
        project_id -> Text,
        user_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        profile_id -> Nullable<Text>,
        access_policy_id -> Nullable<Text>,
        admin -> Bool,
        active -> Bool,
        status -> Text,
        mfa_required -> Bool,
        invited_by -> Nullable<Text>,
        external_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        profile_type -> Nullable<Text>,
        sort_first -> Text,
        sort_last -> Text,
        email -> Text,
        mfa -> Bool,
        last_signin_at -> Nullable<Timestamp>,
        invitation_email_id -> Nullable<Text>,
    }
}

diesel::table! {
    logins (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        membership_id -> Nullable<Text>,
        method -> Text,
        remember -> Bool,
        token_hash -> Nullable<Text>,
        security_stamp -> Text,
        mfa_verified -> Bool,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    security_requests (id) {
        id -> Text,
        kind -> Text,
        user_id -> Text,
        project_id -> Nullable<Text>,
        secret_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        superseded_at -> Nullable<Timestamp>,
        new_email -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        to_address -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        project_id -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        actor_display -> Text,
        action -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        target_display -> Nullable<Text>,
        detail -> Text,
        ip -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    member_counts (project_id, profile_type, status, admin, active, mfa, signed_in) {
        project_id -> Text,
        profile_type -> Text,
        status -> Text,
        admin -> Bool,
        active -> Bool,
        mfa -> Bool,
        signed_in -> Bool,
        members -> BigInt,
    }
}

diesel::table! {
    rate_limits (key) {
        key -> Text,
        window_start -> Timestamp,
        hits -> Integer,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Text,
        user_id -> Text,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    signing_keys (id) {
        id -> Text,
        private_key -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_grants (login_id) {
        login_id -> Text,
        client_id -> Nullable<Text>,
        redirect_uri -> Nullable<Text>,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        code_hash -> Nullable<Text>,
        code_expires_at -> Nullable<Timestamp>,
        code_used_at -> Nullable<Timestamp>,
        pending_until -> Timestamp,
        created_at -> Timestamp,
        auth_time -> Nullable<Timestamp>,
        new_project -> Bool,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        login_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    identity_providers (id) {
        id -> Text,
        domain -> Text,
        project_id -> Nullable<Text>,
        scope_key -> Text,
        issuer -> Text,
        client_id -> Text,
        client_secret -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    external_sign_ins (id) {
        id -> Text,
        state_hash -> Text,
        provider_id -> Text,
        code_verifier -> Text,
        nonce -> Text,
        email -> Text,
        next -> Nullable<Text>,
        app_request -> Nullable<Text>,
        binding_hash -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(memberships -> projects (project_id));
diesel::joinable!(memberships -> profiles (profile_id));
diesel::joinable!(memberships -> access_policies (access_policy_id));
diesel::joinable!(memberships -> client_applications (client_id));
diesel::joinable!(access_policy_rules -> access_policies (policy_id));
diesel::joinable!(logins -> users (user_id));
diesel::joinable!(login_grants -> logins (login_id));
diesel::joinable!(external_sign_ins -> identity_providers (provider_id));
diesel::joinable!(refresh_tokens -> logins (login_id));
diesel::joinable!(logins -> memberships (membership_id));
diesel::joinable!(security_requests -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    identity_providers,
    external_sign_ins,
    signing_keys,
    login_grants,
    refresh_tokens,
    users,
    projects,
    access_policies,
    access_policy_rules,
    profiles,
    client_applications,
    memberships,
    logins,
    security_requests,
    outbox,
    audit_events,
    rate_limits,
    member_counts,
    recovery_codes,
);
