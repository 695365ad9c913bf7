//! The lab's own message-size constants. They are written here, not taken
//! from the resolver's `limits`, so the test authority and the resolver
//! under test do not agree by construction: a change to the resolver's
//! advertised payload is then seen by the lab like any real authority
//! would see it.

/// The EDNS UDP payload the lab advertises and answers within
/// (DNS Flag Day 2020: 1232 bytes).
pub const EDNS_UDP_PAYLOAD: u16 = 1232;

/// A DNS message's largest size (TCP length prefix, RFC 1035 §4.2.2).
pub const MAX_MESSAGE_SIZE: usize = 65_535;

/// The UDP payload of a query without EDNS (RFC 1035 §4.2.1).
pub const CLASSIC_UDP_PAYLOAD: u16 = 512;
