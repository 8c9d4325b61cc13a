//! Segments (named targeting rules): create, read, replace, delete. Experiments reference
//! them by key; the hot path reads them compiled (`audience`).

use super::audit::{self, Actor};
use super::{Engine, EngineError};
use crate::domain::{Segment, SegmentDraft, SegmentKey};
use crate::store::{self, StoreError};

pub(super) fn audit_entry(
    actor: String,
    action: &str,
    target: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> store::NewAuditEntry {
    store::NewAuditEntry {
        actor,
        action: action.into(),
        target: target.into(),
        before,
        after,
    }
}

impl Engine {
    pub async fn create_segment(
        &self,
        actor: &Actor,
        draft: SegmentDraft,
    ) -> Result<Segment, EngineError> {
        let spec = draft.validate(None)?;
        let actor = actor.to_string();
        let created = self
            .inner
            .store
            .run(move |conn| {
                // Audit (security): recorded in the same transaction.
                store::audited(conn, |conn| {
                    let created = store::insert_segment(conn, &spec)?;
                    let entry = audit_entry(
                        actor,
                        "segment.create",
                        spec.key.as_str(),
                        None,
                        Some(audit::json(&created)),
                    );
                    Ok::<_, StoreError>((created, entry))
                })
            })
            .await?;
        self.refresh().await?;
        Ok(created)
    }

    pub async fn list_segments(&self) -> Result<Vec<Segment>, EngineError> {
        Ok(self.inner.store.run(store::list_segments).await?)
    }

    pub async fn segment(&self, key: &str) -> Result<Segment, EngineError> {
        let k = key.to_string();
        self.inner
            .store
            .run(move |conn| store::get_segment(conn, &k))
            .await
            .map_err(|e| unknown_segment(e, key))
    }

    /// Replaces a segment's name, description and rule; every experiment using it follows
    /// with the next refresh (this instance at once).
    pub async fn update_segment(
        &self,
        actor: &Actor,
        key: &str,
        draft: SegmentDraft,
    ) -> Result<Segment, EngineError> {
        let path_key =
            SegmentKey::parse(key).map_err(|_| EngineError::UnknownSegment(key.to_string()))?;
        let spec = draft.validate(Some(&path_key))?;
        let actor = actor.to_string();
        let updated = self
            .inner
            .store
            .run(move |conn| {
                store::audited(conn, |conn| {
                    let before = store::get_segment(conn, spec.key.as_str())?;
                    let updated = store::update_segment(conn, &spec)?;
                    let entry = audit_entry(
                        actor,
                        "segment.replace",
                        spec.key.as_str(),
                        Some(audit::json(&before)),
                        Some(audit::json(&updated)),
                    );
                    Ok::<_, StoreError>((updated, entry))
                })
            })
            .await
            .map_err(|e| unknown_segment(e, key))?;
        self.refresh().await?;
        Ok(updated)
    }

    /// Deletes a segment; refused (409) while a non-stopped experiment references it.
    pub async fn delete_segment(&self, actor: &Actor, key: &str) -> Result<(), EngineError> {
        let k = key.to_string();
        let actor = actor.to_string();
        self.inner
            .store
            .run(move |conn| {
                store::audited(conn, |conn| {
                    let before = store::get_segment(conn, &k)?;
                    store::delete_segment(conn, &k)?;
                    let entry = audit_entry(
                        actor,
                        "segment.delete",
                        &k,
                        Some(audit::json(&before)),
                        None,
                    );
                    Ok::<_, StoreError>(((), entry))
                })
            })
            .await
            .map_err(|e| unknown_segment(e, key))?;
        self.refresh().await?;
        Ok(())
    }
}

fn unknown_segment(e: StoreError, key: &str) -> EngineError {
    match e {
        StoreError::NotFound => EngineError::UnknownSegment(key.to_string()),
        other => other.into(),
    }
}
