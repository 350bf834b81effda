//! What the desktop session does to this app's alerts, asked on the session bus: whether the
//! notification server holds notifications back (its do-not-disturb) and whether a tray host
//! shows the tray icon. Where the desktop offers no way to ask, the answer is `Unknown`; it is
//! never guessed.

use crate::ui::Known;
use std::time::Duration;
use zbus::Connection;
use zbus::names::BusName;

const NOTIFICATIONS: &str = "org.freedesktop.Notifications";
const NOTIFICATIONS_PATH: &str = "/org/freedesktop/Notifications";
/// The tray host of the StatusNotifierItem protocol (KDE, GNOME's AppIndicator extension, Xfce,
/// waybar...), where the app's tray icon goes.
const TRAY_WATCHER: &str = "org.kde.StatusNotifierWatcher";
/// A bus that does not answer in this time is as good as absent for the check.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the session said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCheck {
    pub notifications_suppressed: Known,
    pub tray_host: Known,
}

impl SessionCheck {
    pub const UNKNOWN: Self = Self {
        notifications_suppressed: Known::Unknown,
        tray_host: Known::Unknown,
    };
}

/// Asks this user's session bus; everything `Unknown` without one.
pub async fn check_session() -> SessionCheck {
    match tokio::time::timeout(ASK_TIMEOUT, Connection::session()).await {
        Ok(Ok(conn)) => check(&conn).await,
        Ok(Err(e)) => {
            tracing::debug!("no session bus for the device check: {e}");
            SessionCheck::UNKNOWN
        }
        Err(_) => SessionCheck::UNKNOWN,
    }
}

/// Asks `conn`'s bus.
pub async fn check(conn: &Connection) -> SessionCheck {
    let ask = async {
        SessionCheck {
            notifications_suppressed: suppressed(conn).await,
            tray_host: match has_owner(conn, TRAY_WATCHER).await {
                Some(true) => Known::Yes,
                Some(false) => Known::No,
                None => Known::Unknown,
            },
        }
    };
    tokio::time::timeout(ASK_TIMEOUT, ask)
        .await
        .unwrap_or(SessionCheck::UNKNOWN)
}

async fn has_owner(conn: &Connection, name: &str) -> Option<bool> {
    let dbus = zbus::fdo::DBusProxy::new(conn).await.ok()?;
    let name = BusName::try_from(name).ok()?;
    dbus.name_has_owner(name).await.ok()
}

/// The notification server's own "held back" flag: `Inhibited` of the notifications interface
/// (KDE Plasma, and the spec's draft), or dunst's `paused`. Other servers (GNOME's among them)
/// do not say: `Unknown`. A server that is not running is not asked (asking would start it).
async fn suppressed(conn: &Connection) -> Known {
    if has_owner(conn, NOTIFICATIONS).await != Some(true) {
        return Known::Unknown;
    }
    for (interface, property) in [
        (NOTIFICATIONS, "Inhibited"),
        ("org.dunstproject.cmd0", "paused"),
    ] {
        if let Some(held) = flag(conn, interface, property).await {
            return if held { Known::Yes } else { Known::No };
        }
    }
    Known::Unknown
}

async fn flag(conn: &Connection, interface: &'static str, property: &str) -> Option<bool> {
    let proxy = zbus::proxy::Builder::<zbus::Proxy<'_>>::new(conn)
        .destination(NOTIFICATIONS)
        .path(NOTIFICATIONS_PATH)
        .interface(interface)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .ok()?;
    proxy.get_property::<bool>(property).await.ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! Against a real `dbus-daemon` of its own (no session needed), with stand-ins for the
    //! desktop's notification server and tray host, which cannot run here.
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    struct Bus {
        daemon: Child,
        address: String,
    }

    impl Bus {
        fn start() -> Self {
            let mut daemon = Command::new("dbus-daemon")
                .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
                .stdout(Stdio::piped())
                .spawn()
                .expect("dbus-daemon (package dbus) runs the test's own bus");
            let mut address = String::new();
            BufReader::new(daemon.stdout.take().unwrap())
                .read_line(&mut address)
                .unwrap();
            Self {
                daemon,
                address: address.trim().to_owned(),
            }
        }

        async fn connect(&self) -> Connection {
            zbus::connection::Builder::address(self.address.as_str())
                .build()
                .await
                .unwrap()
        }
    }

    impl Drop for Bus {
        fn drop(&mut self) {
            let _ = self.daemon.kill();
            let _ = self.daemon.wait();
        }
    }

    struct Plasma {
        inhibited: bool,
    }

    #[zbus::interface(name = "org.freedesktop.Notifications")]
    impl Plasma {
        #[zbus(property)]
        fn inhibited(&self) -> bool {
            self.inhibited
        }
    }

    struct Dunst {
        paused: bool,
    }

    #[zbus::interface(name = "org.dunstproject.cmd0")]
    impl Dunst {
        #[zbus(property, name = "paused")]
        fn paused(&self) -> bool {
            self.paused
        }
    }

    struct Watcher;

    #[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
    impl Watcher {
        #[zbus(property)]
        fn is_status_notifier_host_registered(&self) -> bool {
            true
        }
    }

    #[tokio::test]
    async fn an_empty_session_has_no_tray_host_and_does_not_say_about_notifications() {
        let bus = Bus::start();
        let app = bus.connect().await;
        assert_eq!(
            check(&app).await,
            SessionCheck {
                notifications_suppressed: Known::Unknown,
                tray_host: Known::No,
            }
        );
    }

    #[tokio::test]
    async fn reads_the_notification_servers_do_not_disturb_and_finds_the_tray_host() {
        let bus = Bus::start();
        let app = bus.connect().await;
        let desktop = bus.connect().await;
        desktop
            .object_server()
            .at(NOTIFICATIONS_PATH, Plasma { inhibited: true })
            .await
            .unwrap();
        desktop.request_name(NOTIFICATIONS).await.unwrap();
        desktop
            .object_server()
            .at("/StatusNotifierWatcher", Watcher)
            .await
            .unwrap();
        desktop.request_name(TRAY_WATCHER).await.unwrap();
        assert_eq!(
            check(&app).await,
            SessionCheck {
                notifications_suppressed: Known::Yes,
                tray_host: Known::Yes,
            }
        );
    }

    #[tokio::test]
    async fn reads_dunsts_pause_and_says_unknown_for_a_server_that_does_not_tell() {
        let bus = Bus::start();
        let app = bus.connect().await;
        let desktop = bus.connect().await;
        desktop
            .object_server()
            .at(NOTIFICATIONS_PATH, Dunst { paused: false })
            .await
            .unwrap();
        desktop.request_name(NOTIFICATIONS).await.unwrap();
        assert_eq!(check(&app).await.notifications_suppressed, Known::No);

        // A server that owns the name but has neither flag: not guessed.
        let other = Bus::start();
        let silent_server = other.connect().await;
        silent_server.request_name(NOTIFICATIONS).await.unwrap();
        let asker = other.connect().await;
        assert_eq!(check(&asker).await.notifications_suppressed, Known::Unknown);
    }
}
