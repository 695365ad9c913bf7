//! Trust anchors.

/// Trust anchors by zone.
#[derive(Debug, Default, Clone)]
pub struct TrustAnchors;

/// Errors loading trust anchors.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {}
