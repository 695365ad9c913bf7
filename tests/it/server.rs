//! Server front-end tests.
