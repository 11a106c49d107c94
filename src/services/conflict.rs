//! The refusals that mean "the current state does not allow this": each has one variant and
//! one wording, shared by the pages (a message on the page, 409) and the API (an
//! OperationOutcome with code `conflict`).

use crate::domain::ProfileType;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("User is already a member of this project")]
    AlreadyMember,
    #[error("A member of this project already has this externalId")]
    ExternalIdTaken,
    #[error("The project owner cannot be removed")]
    OwnerRemoval,
    #[error("The project owner always stays an admin and active")]
    OwnerStays,
    #[error(
        "This is the project's last admin. Make someone else an admin first, so the project is never left without one"
    )]
    LastAdmin,
    #[error("This member's profile is a {existing}, not a {requested}")]
    ProfileType {
        existing: ProfileType,
        requested: ProfileType,
    },
    /// The names of the members and clients that still use the policy.
    #[error("This policy is still used by {}. Give them another policy first.", .0.join(", "))]
    PolicyInUse(Vec<String>),
    #[error("Use Sign out to end this session")]
    CurrentSession,
    #[error("Two-factor authentication is already set up")]
    MfaAlreadyOn,
    #[error("This person has not set up two-factor authentication")]
    MfaNotOn,
    #[error("This member has no email address")]
    NoEmail,
    #[error("This person has already accepted the invitation")]
    AlreadyAccepted,
    #[error("As the owner, hand the project over to another admin before you leave it")]
    OwnerMustHandOver,
    #[error("The project's owner changed meanwhile: reload the page")]
    OwnerChanged,
    /// The names of the projects the account owns.
    #[error("You own {}: hand each project over to another admin, or delete it, from its Details tab first", .0.join(", "))]
    OwnsProjects(Vec<String>),
    /// The names of the projects the account is the last admin of.
    #[error("You are the last admin of {}: make someone else an admin there first, so no project is left without one", .0.join(", "))]
    LastAdminOf(Vec<String>),
}
