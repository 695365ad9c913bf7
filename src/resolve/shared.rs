//! The resolver's side of the fleet tier (`crate::fleet`): reading an
//! entry from Redis on a local miss or a failed refresh, proving it again
//! before it enters the cache, and offering validated entries to Redis.

use std::sync::Arc;

use crate::clock::Timestamp;
use crate::fleet::Fleet;
use crate::resolve::Resolver;

impl Resolver {
    /// The resolver's current time (its injected clock).
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Attach the fleet tier; false if one was attached already.
    pub fn set_fleet(&self, fleet: Arc<Fleet>) -> bool {
        self.fleet.set(fleet).is_ok()
    }

    /// The fleet tier, if configured.
    pub fn fleet(&self) -> Option<&Arc<Fleet>> {
        self.fleet.get()
    }
}
