//! Audit events: who did what to whom, when and from where.

use diesel::prelude::*;

use super::{RequestMeta, ServiceError, new_id, now};
use crate::db::DbConn;
use crate::db::models::AuditEvent;
use crate::db::schema::audit_events;

pub struct Actor<'a> {
    pub id: Option<&'a str>,
    pub display: &'a str,
}

pub struct Target<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub display: &'a str,
}

pub fn record(
    conn: &mut DbConn,
    project_id: Option<&str>,
    actor: Actor<'_>,
    action: &str,
    target: Option<Target<'_>>,
    detail: &str,
    meta: &RequestMeta,
) -> Result<(), ServiceError> {
    let event = AuditEvent {
        id: new_id(),
        project_id: project_id.map(str::to_owned),
        actor_id: actor.id.map(str::to_owned),
        actor_display: actor.display.to_owned(),
        action: action.to_owned(),
        target_type: target.as_ref().map(|t| t.kind.to_owned()),
        target_id: target.as_ref().map(|t| t.id.to_owned()),
        target_display: target.as_ref().map(|t| t.display.to_owned()),
        detail: detail.to_owned(),
        ip: meta.ip.clone(),
        created_at: now(),
    };
    diesel::insert_into(audit_events::table)
        .values(&event)
        .execute(conn)?;
    Ok(())
}
