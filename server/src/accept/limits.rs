//! Connection caps: how many connections the server holds at once, overall and per client
//! address, and which one gives way when a new one arrives at a full house.
//!
//! Every accepted connection is registered until its last handle is dropped (a WebSocket keeps
//! the handle of the connection it was upgraded from). A connection becomes *authenticated* when
//! a request on it presented a valid token or its WebSocket signed in; the first
//! [`PROTECTED_PER_ACCOUNT`] authenticated connections of an account are *protected*. When a cap
//! is reached, the oldest connection in the scope (everywhere, or that address) that is not
//! protected is shed to make room, so idle or half-open connections, or one account opening
//! hundreds, can never lock out a login, a health check or an emergency. Only when every
//! connection in the scope is protected is the newcomer refused.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

/// The caps in force.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub total: usize,
    /// 0: no per-address cap.
    pub per_ip: usize,
}

/// Authenticated connections of one account that are never shed: a person's devices (a socket
/// and a few keep-alive connections each). More of them may be shed for a newcomer, after every
/// unauthenticated one; when a protected one closes, the account's oldest surplus one takes its
/// place.
pub(crate) const PROTECTED_PER_ACCOUNT: usize = 16;

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// Protected connections per account (user id).
    per_account: HashMap<String, usize>,
    /// The protected connections, with their account.
    protected: HashMap<u64, String>,
    /// Unauthenticated connections, by age (ids grow), with the way to shed each: shed first.
    sheddable: BTreeMap<u64, (IpAddr, CancellationToken)>,
    /// Authenticated connections past their account's protected ones, by age, with the way to
    /// shed each and the account: shed only when no unauthenticated one is left in scope.
    surplus: BTreeMap<u64, (IpAddr, CancellationToken, String)>,
}

/// The registry of live connections.
#[derive(Debug)]
pub(crate) struct Registry {
    caps: Caps,
    inner: Mutex<Inner>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Full,
    AddressFull,
}

impl Registry {
    pub(crate) fn new(caps: Caps) -> Arc<Self> {
        Arc::new(Self {
            caps,
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection from `ip`, shedding the oldest unprotected one of its scope
    /// if a cap is reached. A distant IPv6 client counts by its /64 (see `address::scope`).
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnTag, Refused> {
        let ip = crate::address::scope(ip);
        let mut inner = self.lock();
        let from_ip = inner.per_ip.get(&ip).copied().unwrap_or(0);
        if self.caps.per_ip > 0 && from_ip >= self.caps.per_ip && !shed(&mut inner, Some(ip)) {
            return Err(Refused::AddressFull);
        }
        if inner.total >= self.caps.total && !shed(&mut inner, None) {
            return Err(Refused::Full);
        }
        inner.next_id += 1;
        let id = inner.next_id;
        inner.total += 1;
        *inner.per_ip.entry(ip).or_default() += 1;
        let shed_token = CancellationToken::new();
        inner.sheddable.insert(id, (ip, shed_token.clone()));
        Ok(ConnTag(Arc::new(Entry {
            id,
            ip,
            registry: Arc::clone(self),
            shed: shed_token,
            authenticated: AtomicBool::new(false),
        })))
    }

    /// Sheds the oldest unprotected connection anywhere (the process ran out of file
    /// descriptors). False when there is none.
    pub(crate) fn shed_oldest(&self) -> bool {
        shed(&mut self.lock(), None)
    }

    /// Connections held now.
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.lock().total
    }

    fn remove(&self, entry: &Entry) {
        let mut inner = self.lock();
        inner.surplus.remove(&entry.id);
        if let Some(account) = inner.protected.remove(&entry.id) {
            // Its place goes to the account's oldest surplus connection, if any.
            let heir = inner
                .surplus
                .iter()
                .find(|(_, (_, _, of))| *of == account)
                .map(|(id, _)| *id);
            match heir {
                Some(id) => {
                    inner.surplus.remove(&id);
                    inner.protected.insert(id, account);
                }
                None => {
                    if let Some(held) = inner.per_account.get_mut(&account) {
                        *held = held.saturating_sub(1);
                        if *held == 0 {
                            inner.per_account.remove(&account);
                        }
                    }
                }
            }
        }
        inner.total = inner.total.saturating_sub(1);
        if let Some(count) = inner.per_ip.get_mut(&entry.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                inner.per_ip.remove(&entry.ip);
            }
        }
        inner.sheddable.remove(&entry.id);
    }
}

/// Cancels the oldest unauthenticated connection (from `ip` if given), else the oldest surplus
/// one of an account, and stops counting it against the caps at once: its task closes the
/// socket as soon as it runs.
fn shed(inner: &mut Inner, ip: Option<IpAddr>) -> bool {
    let in_scope = |from: &IpAddr| ip.is_none_or(|ip| *from == ip);
    let stranger = inner
        .sheddable
        .iter()
        .find(|(_, (from, _))| in_scope(from))
        .map(|(id, _)| *id);
    let victim = match stranger {
        Some(id) => inner.sheddable.remove(&id),
        None => {
            let extra = inner
                .surplus
                .iter()
                .find(|(_, (from, _, _))| in_scope(from))
                .map(|(id, _)| *id);
            extra
                .and_then(|id| inner.surplus.remove(&id))
                .map(|(from, token, _)| (from, token))
        }
    };
    let Some((from, token)) = victim else {
        return false;
    };
    token.cancel();
    inner.total = inner.total.saturating_sub(1);
    if let Some(count) = inner.per_ip.get_mut(&from) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            inner.per_ip.remove(&from);
        }
    }
    tracing::debug!(%from, "shed a connection to make room");
    true
}

#[derive(Debug)]
struct Entry {
    id: u64,
    ip: IpAddr,
    registry: Arc<Registry>,
    shed: CancellationToken,
    authenticated: AtomicBool,
}

impl Drop for Entry {
    fn drop(&mut self) {
        // A shed entry was already uncounted.
        if !self.shed.is_cancelled() {
            self.registry.remove(self);
        }
    }
}

/// A handle on one registered connection, carried by its requests (as an extension) and by a
/// WebSocket upgraded from it.
#[derive(Debug, Clone)]
pub(crate) struct ConnTag(Arc<Entry>);

impl ConnTag {
    /// Marks the connection as carrying `account` (a user id) signed in: never shed from now
    /// on, unless the account already holds [`PROTECTED_PER_ACCOUNT`] such connections.
    pub(crate) fn authenticated(&self, account: &str) {
        if self.0.authenticated.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut inner = self.0.registry.lock();
        // Shed already: it is on its way out.
        if self.0.shed.is_cancelled() {
            return;
        }
        let Some((ip, token)) = inner.sheddable.remove(&self.0.id) else {
            return;
        };
        let held = inner.per_account.entry(account.to_owned()).or_default();
        if *held >= PROTECTED_PER_ACCOUNT {
            tracing::debug!(account, "an account's connection beyond its protected ones");
            inner
                .surplus
                .insert(self.0.id, (ip, token, account.to_owned()));
            return;
        }
        *held += 1;
        inner.protected.insert(self.0.id, account.to_owned());
    }

    /// Resolves when the connection was shed to make room for another.
    pub(crate) async fn shed(&self) {
        self.0.shed.cancelled().await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn one_distant_ipv6_64_is_one_address() {
        let registry = Registry::new(Caps {
            total: 10,
            per_ip: 2,
        });
        // Documentation addresses: on no interface of this machine, so distant.
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let first = registry.admit(v6("2001:db8:0:1::1")).unwrap();
        let second = registry.admit(v6("2001:db8:0:1::2")).unwrap();
        for tag in [&first, &second] {
            tag.authenticated("u");
        }
        assert_eq!(
            registry.admit(v6("2001:db8:0:1:ffff::3")).unwrap_err(),
            Refused::AddressFull,
            "another address of the same /64"
        );
        assert!(registry.admit(v6("2001:db8:0:2::1")).is_ok(), "another /64");
    }

    #[test]
    fn a_full_house_sheds_the_oldest_unauthenticated() {
        let registry = Registry::new(Caps {
            total: 3,
            per_ip: 0,
        });
        let first = registry.admit(ip(1)).unwrap();
        let second = registry.admit(ip(2)).unwrap();
        let third = registry.admit(ip(3)).unwrap();
        first.authenticated("u");
        let fourth = registry.admit(ip(4)).unwrap();
        // `second` was the oldest unauthenticated one.
        assert!(second.0.shed.is_cancelled());
        assert!(!first.0.shed.is_cancelled());
        assert_eq!(registry.count(), 3);
        for tag in [&third, &fourth] {
            tag.authenticated("u");
        }
        assert_eq!(registry.admit(ip(5)).unwrap_err(), Refused::Full);
        drop(second);
        assert_eq!(registry.count(), 3);
        drop(third);
        assert_eq!(registry.count(), 2);
        assert!(registry.admit(ip(5)).is_ok());
    }

    #[test]
    fn one_account_keeps_only_its_first_connections_from_being_shed() {
        let registry = Registry::new(Caps {
            total: PROTECTED_PER_ACCOUNT + 3,
            per_ip: 0,
        });
        let mine: Vec<ConnTag> = (0..PROTECTED_PER_ACCOUNT + 2)
            .map(|_| {
                let tag = registry.admit(ip(1)).unwrap();
                tag.authenticated("attacker");
                tag
            })
            .collect();
        let doctor = registry.admit(ip(2)).unwrap();
        doctor.authenticated("doctor");
        // A full house: the account's connections past its protected ones give way, oldest
        // first; then the newcomer is refused.
        let mut newcomers = Vec::new();
        for n in 0..2 {
            let newcomer = registry.admit(ip(3)).unwrap();
            newcomer.authenticated("doctor");
            newcomers.push(newcomer);
            assert!(mine[PROTECTED_PER_ACCOUNT + n].0.shed.is_cancelled(), "{n}");
        }
        assert_eq!(registry.admit(ip(3)).unwrap_err(), Refused::Full);
        assert!(
            mine[..PROTECTED_PER_ACCOUNT]
                .iter()
                .all(|t| !t.0.shed.is_cancelled())
        );
        assert!(!doctor.0.shed.is_cancelled());
        // Protected ones that close make room for the account's next ones.
        drop(mine);
        let again = registry.admit(ip(1)).unwrap();
        again.authenticated("attacker");
        assert!(registry.lock().protected.contains_key(&again.0.id));
        assert_eq!(registry.lock().per_account.get("attacker"), Some(&1));
    }

    #[test]
    fn strangers_give_way_before_an_accounts_surplus_which_moves_up_when_a_place_frees() {
        let registry = Registry::new(Caps {
            total: PROTECTED_PER_ACCOUNT + 2,
            per_ip: 0,
        });
        let mine: Vec<ConnTag> = (0..=PROTECTED_PER_ACCOUNT)
            .map(|_| {
                let tag = registry.admit(ip(1)).unwrap();
                tag.authenticated("doctor");
                tag
            })
            .collect();
        let surplus = &mine[PROTECTED_PER_ACCOUNT];
        let stranger = registry.admit(ip(2)).unwrap();
        // Full: the newer stranger gives way before the doctor's older surplus connection.
        let newcomer = registry.admit(ip(3)).unwrap();
        assert!(stranger.0.shed.is_cancelled());
        assert!(!surplus.0.shed.is_cancelled());
        // One of the doctor's protected ones closes: the surplus one takes its place.
        let mut mine = mine;
        drop(mine.remove(0));
        assert!(
            registry
                .lock()
                .protected
                .contains_key(&mine[PROTECTED_PER_ACCOUNT - 1].0.id)
        );
        assert!(registry.lock().surplus.is_empty());
        drop(newcomer);
    }

    #[test]
    fn one_address_cannot_take_every_slot() {
        let registry = Registry::new(Caps {
            total: 100,
            per_ip: 2,
        });
        let a = registry.admit(ip(1)).unwrap();
        let b = registry.admit(ip(1)).unwrap();
        a.authenticated("u");
        b.authenticated("u");
        assert_eq!(registry.admit(ip(1)).unwrap_err(), Refused::AddressFull);
        let other = registry.admit(ip(2));
        assert!(other.is_ok());
        drop(a);
        assert!(registry.admit(ip(1)).is_ok());
    }
}
