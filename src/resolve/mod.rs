//! The iterative engine and its driver.
