//! UDP and TCP listeners, per-query parsing, EDNS, truncation, ACL.
