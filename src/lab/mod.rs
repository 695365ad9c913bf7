//! Testbed authoritative servers: zone files -> signed in memory -> answers,
//! with runtime fault injection.
