//! FleetLock server, client and lock stores (work in progress).
