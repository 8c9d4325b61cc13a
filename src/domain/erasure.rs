//! Erasing a user (privacy law): what was removed.

/// What erasing a user removed; both zero for a user the server never stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Erased {
    pub assignments: usize,
    pub events: usize,
}
