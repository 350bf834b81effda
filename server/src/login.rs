//! Logins under attack. An attempt is counted before its password is checked (per username
//! and address, and per address), so concurrency cannot get more guesses checked than the
//! limit; the checks themselves (argon2, about 19 MiB each) run on a few threads of their own,
//! so a flood of logins costs a fixed amount of memory and gets 429 beyond it. No address holds
//! more than its share of the checks, and an account's successful sign-ins have a rate, so
//! neither a flood of guesses nor valid credentials in a loop keep others from signing in.
//! Failed logins and lockouts are logged.

use crate::accounts::verify_password;
use crate::config::Config;
use crate::limiter::{Failed, KeyedBuckets, LoginThrottle};
use argon2::Block;
use std::net::IpAddr;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// How long a client is told to wait when every password check is busy.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// A password check, given its thread's argon2 working memory.
type Check = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

#[derive(Debug)]
pub(crate) struct Logins {
    /// Failures of one username from one address.
    by_pair: LoginThrottle,
    /// Failures from one address, any usernames; and its checks at once.
    by_address: LoginThrottle,
    /// Successful sign-ins per username.
    successes: KeyedBuckets<String>,
    checks: SyncSender<Check>,
    /// One per check running or waiting: taken before anything else is done for a login, so a
    /// flood is refused before it costs a database read or a thread.
    slots: Arc<Semaphore>,
}

/// Why a login was not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Locked out (or every slot is taken by attempts still being checked): wait this long.
    Throttled(Duration),
    /// Every password check is busy.
    Busy(Duration),
}

/// One counted attempt with its place among the password checks. Settled by its check (even
/// if the client went away meanwhile); dropped unsettled (the check never ran) it gives its
/// slots back uncounted.
#[derive(Debug)]
pub(crate) struct Attempt {
    logins: Arc<Logins>,
    username: String,
    /// The client's own address (for the pair: one user's lockout is of one computer)...
    address: String,
    /// ...and what it counts as for the per-address limits (`address::scope`).
    scope: String,
    settled: bool,
    _slot: OwnedSemaphorePermit,
}

impl Logins {
    /// The throttles of `config` and `config.login_checks` password-check threads.
    pub(crate) fn start(config: &Config) -> std::io::Result<Arc<Self>> {
        let threads = config.login_checks.max(1);
        // Room for as many waiting checks as running ones; beyond that, 429.
        let (checks, queue) = mpsc::sync_channel::<Check>(threads);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("clinic-login-{n}"))
                .spawn(move || {
                    // Allocated by the first check and reused by every later one on this thread.
                    let mut memory = Vec::new();
                    loop {
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match next {
                            Ok(check) => check(&mut memory),
                            // The server is gone.
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Arc::new(Self {
            // A slower ramp than per address: the owner mistyping on their own PC.
            by_pair: LoginThrottle::new(
                config.login_max_failures,
                2,
                config.login_base_lockout,
                config.login_max_lockout,
            ),
            by_address: LoginThrottle::new(
                config.login_max_failures_per_ip,
                1,
                config.login_base_lockout,
                config.login_max_lockout,
            )
            // Half the places: an address (or an account's flood from it) leaves the rest.
            .at_once(u32::try_from(threads).unwrap_or(u32::MAX)),
            successes: KeyedBuckets::new(config.login_success_rate),
            checks,
            slots: Arc::new(Semaphore::new(2 * threads)),
        }))
    }

    /// Counts an attempt of `username` from `address` and gives it a place among the password
    /// checks, or refuses it. The throttles come first: what they refuse never holds a place,
    /// not even for a moment.
    pub(crate) fn begin(
        self: &Arc<Self>,
        username: &str,
        address: IpAddr,
    ) -> Result<Attempt, Refused> {
        self.successes.ready(&username.to_owned()).map_err(|wait| {
            tracing::debug!(username, "login refused: signed in too often");
            Refused::Throttled(wait)
        })?;
        // A distant IPv6 client counts by its /64 for the per-address limits (see
        // `address::scope`); the pair keeps the address itself.
        let scope = crate::address::scope(address).to_string();
        let address = address.to_string();
        let pair = pair_key(username, &address);
        // The address first: one locked out makes no entry for the names it sends (a flood of
        // them must not crowd out the lockouts of others).
        self.by_address.begin(&scope).map_err(|wait| {
            tracing::debug!(%address, %scope, "login refused: address locked out or checking enough");
            Refused::Throttled(wait)
        })?;
        if let Err(wait) = self.by_pair.begin(&pair) {
            self.by_address.release(&scope, false);
            tracing::debug!(username, %address, "login refused: locked out");
            return Err(Refused::Throttled(wait));
        }
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            self.by_pair.release(&pair, false);
            self.by_address.release(&scope, false);
            tracing::debug!("login refused: every password check is busy");
            return Err(Refused::Busy(BUSY_RETRY));
        };
        Ok(Attempt {
            logins: Arc::clone(self),
            username: username.to_owned(),
            address,
            scope,
            settled: false,
            _slot: slot,
        })
    }

    /// Checks `password` against `stored` (None: an unknown or disabled account, checked against
    /// a dummy hash all the same) on a check thread, settling `attempt` with the outcome.
    pub(crate) async fn check(
        &self,
        mut attempt: Attempt,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, Refused> {
        let (reply, outcome) = oneshot::channel();
        let check: Check = Box::new(move |memory| {
            let good = verify_password(&password, stored.as_deref(), memory);
            attempt.settle(good);
            let _ = reply.send(good);
        });
        // The slot taken in `begin` guarantees room; a refusal here means the server is going.
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.checks.try_send(check)
        {
            // The attempt inside the refused check is dropped unsettled: not counted.
            return Err(Refused::Busy(BUSY_RETRY));
        }
        outcome.await.map_err(|_| Refused::Busy(BUSY_RETRY))
    }
}

fn pair_key(username: &str, address: &str) -> String {
    format!("{username}\n{address}")
}

impl Attempt {
    fn settle(&mut self, good: bool) {
        self.settled = true;
        let logins = &self.logins;
        let (username, address) = (self.username.as_str(), self.address.as_str());
        let scope = self.scope.as_str();
        let pair = pair_key(username, address);
        if good {
            // Counted even when two raced past an empty bucket: it is refilled by time alone.
            let _ = logins.successes.take(&self.username);
            // A success clears this pair only: one good password must not unlock guessing at
            // other accounts from the same address.
            logins.by_pair.release(&pair, true);
            logins.by_address.release(scope, false);
            return;
        }
        tracing::warn!(username, address, "failed login");
        metrics::counter!(crate::metrics::LOGIN_FAILURES).increment(1);
        if let Failed::LockedOut(wait) = logins.by_pair.fail(&pair) {
            tracing::warn!(
                username,
                address,
                seconds = wait.as_secs_f64().ceil(),
                "login locked out for this username from this address"
            );
        }
        if let Failed::LockedOut(wait) = logins.by_address.fail(scope) {
            tracing::warn!(
                address,
                scope,
                seconds = wait.as_secs_f64().ceil(),
                "login locked out for this address"
            );
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.settled {
            let pair = pair_key(&self.username, &self.address);
            self.logins.by_pair.release(&pair, false);
            self.logins.by_address.release(&self.scope, false);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_users_lockout_is_of_one_computer_though_a_distant_64_shares_the_address_limit() {
        let config = Config::new(std::env::temp_dir());
        let logins = Logins::start(&config).unwrap();
        let (here, next_door) = (
            "2001:db8:0:1::1".parse().unwrap(),
            "2001:db8:0:1::2".parse().unwrap(),
        );
        for _ in 0..config.login_max_failures {
            let mut attempt = logins.begin("alice", here).unwrap();
            attempt.settle(false);
        }
        assert!(
            matches!(logins.begin("alice", here), Err(Refused::Throttled(_))),
            "alice is locked out of this computer"
        );
        let attempt = logins.begin("alice", next_door);
        assert!(
            attempt.is_ok(),
            "another computer of the same /64 is not locked out for her"
        );
        drop(attempt);
        // The address limit is the /64's: its failures add up across its computers.
        for n in config.login_max_failures..config.login_max_failures_per_ip {
            let mut attempt = logins.begin(&format!("guess-{n}"), next_door).unwrap();
            attempt.settle(false);
        }
        assert!(matches!(
            logins.begin("bob", "2001:db8:0:1::3".parse().unwrap()),
            Err(Refused::Throttled(_))
        ));
    }
}
