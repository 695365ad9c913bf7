//! Control API tests.
