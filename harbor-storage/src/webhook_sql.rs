//! What both metadata backends share for webhooks: how a policy's targets
//! and event types, and a delivery's target, are kept (JSON text columns),
//! and how an execution's status follows from its deliveries.

use harbor_core::{WebhookEventType, WebhookTarget};

use crate::error::StorageError;

/// A policy's targets as stored.
pub(crate) fn encode_targets(targets: &[WebhookTarget]) -> Result<String, StorageError> {
    serde_json::to_string(targets).map_err(|e| StorageError::encoding("webhook targets", e))
}

/// A policy's targets read back.
pub(crate) fn decode_targets(text: &str) -> Result<Vec<WebhookTarget>, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::encoding("webhook targets", e))
}

/// One delivery's target as stored.
pub(crate) fn encode_target(target: &WebhookTarget) -> Result<String, StorageError> {
    serde_json::to_string(target).map_err(|e| StorageError::encoding("webhook target", e))
}

/// One delivery's target read back.
pub(crate) fn decode_target(text: &str) -> Result<WebhookTarget, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::encoding("webhook target", e))
}

/// A policy's event types as stored: their names, comma-separated.
pub(crate) fn encode_event_types(types: &[WebhookEventType]) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// A policy's event types read back.
pub(crate) fn decode_event_types(text: &str) -> Result<Vec<WebhookEventType>, StorageError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            WebhookEventType::parse(s)
                .ok_or_else(|| StorageError::Corrupt(format!("unknown webhook event type {s:?}")))
        })
        .collect()
}

/// The statement that brings an execution's status up to date from its
/// deliveries (`$1`/`?1`: the execution, `$2`/`?2`: now in milliseconds):
/// running while one waits or runs, then `Error` if any failed for good,
/// else `Success`.
pub(crate) const EXECUTION_STATUS_UPDATE: &str = "UPDATE webhook_executions SET
    status = CASE
        WHEN EXISTS (SELECT 1 FROM webhook_tasks t WHERE t.execution_id = webhook_executions.id
                     AND t.status IN ('Pending', 'Running')) THEN 'Running'
        WHEN EXISTS (SELECT 1 FROM webhook_tasks t WHERE t.execution_id = webhook_executions.id
                     AND t.status = 'Error') THEN 'Error'
        ELSE 'Success' END,
    end_time = CASE
        WHEN EXISTS (SELECT 1 FROM webhook_tasks t WHERE t.execution_id = webhook_executions.id
                     AND t.status IN ('Pending', 'Running')) THEN NULL
        ELSE {now} END
    WHERE id = {id}";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn event_types_round_trip() {
        let types = [
            WebhookEventType::PushArtifact,
            WebhookEventType::QuotaExceed,
        ];
        assert_eq!(
            decode_event_types(&encode_event_types(&types)).unwrap(),
            types
        );
        assert!(decode_event_types("").unwrap().is_empty());
        assert!(decode_event_types("NOPE").is_err());
    }
}
