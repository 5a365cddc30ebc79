//! The id normalisation the official SDKs apply to decision events (2026): `campaign_id` (and
//! the activation's `entity_id`) is any non-empty id, falling back from the layer to the
//! experiment; `variation_id` must be a non-empty run of ASCII digits or it travels as `null`.

/// The `campaign_id` of an impression: the layer id when it is non-empty, else the
/// experiment id (which is itself `""` when there is no experiment).
pub(crate) fn campaign_id<'a>(layer_id: &'a str, experiment_id: &'a str) -> &'a str {
    if layer_id.is_empty() {
        experiment_id
    } else {
        layer_id
    }
}

/// The `variation_id` of an impression: `id` when it is a non-empty string of ASCII digits
/// (leading zeros allowed), else `None` (sent as JSON `null`).
pub(crate) fn variation_id(id: &str) -> Option<&str> {
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}
