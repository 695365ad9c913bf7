//! A zone served on its own, outside the lab's hierarchy: the internal
//! authority behind a `forward-zone` or `stub-zone` (nothing delegates to
//! it). One copy of the zone per address, all signed with the same keys,
//! so a fault can take down one server and leave the others answering.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use hickory_proto::rr::Name;

use super::sign::{self, Denial, KSK_FLAGS, ZSK_FLAGS, ZoneKey, ZoneKeys};
use super::{Fault, Lab, LabAlgorithm, LabError, LabZone, ZoneState, server, zone};

/// How to serve one standalone zone.
#[derive(Clone, Debug)]
pub struct StandaloneZone {
    pub origin: Name,
    /// Unsigned zone file (as the files under `zones/`).
    pub file: PathBuf,
    /// Addresses that each serve the whole zone.
    pub servers: Vec<IpAddr>,
    /// `None`: unsigned.
    pub denial: Option<Denial>,
    pub algorithm: LabAlgorithm,
    /// Port shared by all servers; 0 picks a free one.
    pub port: u16,
}

impl Lab {
    /// Load, sign and serve `spec`'s zone on each of its addresses. The
    /// zone's DS (for a trust anchor) is in [`Lab::ds_records`]; the lab
    /// has no root, so [`Lab::trust_anchor`] is empty.
    pub async fn start_standalone(spec: StandaloneZone) -> Result<Lab, LabError> {
        Self::build_standalone(spec, true).await
    }

    /// As [`Lab::start_standalone`], without binding a socket: queries
    /// reach the zone through [`Lab::reply`] (port `spec.port`, 53 if 0).
    pub async fn standalone_in_process(spec: StandaloneZone) -> Result<Lab, LabError> {
        Self::build_standalone(spec, false).await
    }

    async fn build_standalone(spec: StandaloneZone, bind: bool) -> Result<Lab, LabError> {
        let data = Arc::new(zone::load(&spec.file, &spec.origin, None)?);
        let pkcs8 = match spec.denial {
            Some(_) => Some((
                sign::generate_pkcs8(spec.algorithm, &spec.origin)?,
                sign::generate_pkcs8(spec.algorithm, &spec.origin)?,
            )),
            None => None,
        };
        let keys_for = || -> Result<Option<ZoneKeys>, LabError> {
            let Some((ksk, zsk)) = &pkcs8 else {
                return Ok(None);
            };
            Ok(Some(ZoneKeys {
                ksk: ZoneKey::from_pkcs8(spec.algorithm, KSK_FLAGS, &spec.origin, ksk)?,
                zsk: ZoneKey::from_pkcs8(spec.algorithm, ZSK_FLAGS, &spec.origin, zsk)?,
            }))
        };
        let mut parent_ds = BTreeMap::new();
        let mut zones = Vec::with_capacity(spec.servers.len());
        for ip in &spec.servers {
            let keys = keys_for()?;
            let signed = match (&keys, spec.denial) {
                (Some(keys), Some(denial)) => {
                    parent_ds.insert(spec.origin.clone(), vec![keys.ksk.ds(&spec.origin)?]);
                    sign::sign_for_fault(&data, denial, keys, &Fault::None, spec.algorithm)?
                }
                _ => sign::unsigned(&data),
            };
            zones.push(LabZone {
                origin: spec.origin.clone(),
                server: *ip,
                data: RwLock::new(Arc::clone(&data)),
                denial: spec.denial,
                keys: keys.map(Arc::new),
                algorithm: spec.algorithm,
                state: RwLock::new(Arc::new(ZoneState {
                    fault: Fault::None,
                    zone: Arc::new(signed),
                })),
            });
        }
        let (shared, port, tasks) = if bind {
            server::start(zones, spec.port).await?
        } else {
            let port = if spec.port == 0 { 53 } else { spec.port };
            (server::shared(zones), port, Vec::new())
        };
        Ok(Lab {
            shared,
            port,
            tasks,
            root_ds: Vec::new(),
            parent_ds,
        })
    }

    /// Switch the fault of `zone` as served by `addr` only (a lab serves a
    /// zone from one address, a standalone zone from several).
    pub fn set_fault_at(&self, zone: &Name, addr: IpAddr, fault: Fault) -> Result<(), LabError> {
        let lab_zone = self
            .shared
            .zones
            .iter()
            .find(|z| &z.origin == zone && z.server == addr)
            .ok_or_else(|| LabError::UnknownZone {
                zone: format!("{zone} at {addr}"),
            })?;
        let resign = fault.needs_resigning() || lab_zone.snapshot().fault.needs_resigning();
        self.publish(lab_zone, fault, resign)
    }

    /// Switch the fault of every copy of `zone` (all its addresses).
    pub fn set_fault_everywhere(&self, zone: &Name, fault: &Fault) -> Result<(), LabError> {
        let addrs: Vec<IpAddr> = self
            .shared
            .zones
            .iter()
            .filter(|z| &z.origin == zone)
            .map(|z| z.server)
            .collect();
        if addrs.is_empty() {
            return Err(LabError::UnknownZone {
                zone: zone.to_string(),
            });
        }
        for addr in addrs {
            self.set_fault_at(zone, addr, fault.clone())?;
        }
        Ok(())
    }
}
