//! Response validation.
