//! The answer cache.
