//! Native desktop notifications (notify-rust over the D-Bus session bus) on a dedicated thread.
//!
//! Sending goes through one background thread so that callers never wait on D-Bus longer than
//! the configured timeout: a wedged notification daemon, or a bus that tries to auto-start one
//! that crashes, must not stall message delivery. Failures are logged once per outage.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use crate::status::{Availability, Shared};

/// Longest title we pass to the notification daemon; longer ones are cut (network input).
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body we pass to the notification daemon; longer ones are cut (network input).
pub const MAX_BODY_CHARS: usize = 1000;
/// Notices waiting for the notification thread; more are refused rather than queued forever.
const QUEUE: usize = 64;

/// How urgently a notice should be presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// A new message: shown normally and expires as the desktop decides.
    Normal,
    /// An emergency: freedesktop urgency 2 ("critical"), which daemons keep on screen until
    /// dismissed and show even in do-not-disturb mode.
    Critical,
}

/// One native notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Summary line, e.g. "Emergency from Jane Doe".
    pub title: String,
    /// Detail text, plain (markup characters are escaped). Keep health data out of it if the
    /// screen may be seen by others.
    pub body: String,
    /// Presentation urgency.
    pub urgency: Urgency,
    /// Names the notice so that [`crate::Alarm::withdraw`] can take it off the screen again
    /// (e.g. an emergency's id, once someone has handled it).
    pub tag: Option<String>,
}

impl Notice {
    /// A critical-urgency notice (emergencies).
    pub fn critical(title: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            body: body.into(),
            urgency: Urgency::Critical,
            tag: None,
        }
    }

    /// A normal-urgency notice (new messages).
    pub fn normal(title: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            body: body.into(),
            urgency: Urgency::Normal,
            tag: None,
        }
    }

    /// The same notice, withdrawable by `tag`.
    #[must_use]
    pub fn tagged(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }
}

/// Why a notice was not shown. Never fatal: log it (we already did, once) and carry on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Notifications are turned off in [`crate::AlarmConfig`].
    #[error("notifications are disabled")]
    Disabled,
    /// No session bus, no notification daemon, or the daemon refused the call.
    #[error("notification service unavailable: {0}")]
    Unavailable(String),
    /// The daemon did not answer within the configured timeout (the notice may still appear).
    #[error("notification service did not answer in time")]
    TimedOut,
    /// Too many notices are already waiting for a slow notification service.
    #[error("too many notifications pending")]
    Busy,
    /// The notification thread is gone (only after a panic inside notify-rust).
    #[error("notification thread stopped")]
    Stopped,
    /// Everything was withdrawn (a logout) before this notice's turn came.
    #[error("notification withdrawn before it was shown")]
    Withdrawn,
}

/// Called when the user clicks a notification (its default action).
pub(crate) type OnClick = Box<dyn FnOnce() + Send + 'static>;

struct Job {
    notice: Notice,
    reply: Option<SyncSender<Result<(), NotifyError>>>,
    on_click: Option<OnClick>,
    /// How many withdrawals of everything had been asked when it was queued: one asked since
    /// (a logout) means its session ended, and it is not shown.
    epoch: u64,
}

/// What the notification thread does next, in the order asked (a withdrawal never overtakes
/// the notice it withdraws).
enum Task {
    Show(Job),
    Withdraw(String),
    WithdrawAll,
}

/// Most notices remembered for withdrawal (a hostile server cannot grow this forever).
const MAX_REMEMBERED: usize = 1024;

/// The daemon's id of each notice that may be on screen, by tag (an untagged one under a key of
/// its own). Past [`MAX_REMEMBERED`] one is forgotten, never the lot: the oldest normal one,
/// and a critical one only when all are critical, so that a doctor's shift of message notices
/// (tagged so that an unsend can withdraw them) cannot make a recent emergency's notice, or one
/// a logout must take away, impossible to withdraw.
#[derive(Debug, Default)]
struct Shown {
    /// Tag -> (id, order shown, critical).
    ids: std::collections::HashMap<String, (u32, u64, bool)>,
    shown: u64,
}

impl Shown {
    fn insert(&mut self, tag: String, id: u32, critical: bool) {
        if self.ids.len() >= MAX_REMEMBERED
            && !self.ids.contains_key(&tag)
            && let Some(first) = self
                .ids
                .iter()
                .min_by_key(|(_, (_, order, critical))| (*critical, *order))
                .map(|(tag, _)| tag.clone())
        {
            self.ids.remove(&first);
        }
        self.shown += 1;
        self.ids.insert(tag, (id, self.shown, critical));
    }

    fn remove(&mut self, tag: &str) -> Option<u32> {
        self.ids.remove(tag).map(|(id, ..)| id)
    }

    /// The id shown under `tag`, if any.
    fn get(&self, tag: &str) -> Option<u32> {
        self.ids.get(tag).map(|(id, ..)| *id)
    }

    /// Every id remembered, oldest first, forgetting them.
    fn take_all(&mut self) -> Vec<u32> {
        let mut all: Vec<(u64, u32)> = self.ids.drain().map(|(_, (id, n, _))| (n, id)).collect();
        all.sort_unstable();
        all.into_iter().map(|(_, id)| id).collect()
    }
}

/// Handle to the notification thread.
#[derive(Debug)]
pub(crate) struct Notifier {
    jobs: Option<SyncSender<Task>>,
    timeout: Duration,
    /// Withdrawals of everything asked so far. Counted here rather than only queued: one must
    /// not be lost to a full queue (the thread looks at the count before each task).
    withdrawals: Arc<AtomicU64>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("notice", &self.notice).finish()
    }
}

impl Notifier {
    /// Starts the notification thread, or a refusing stub when `enabled` is false.
    pub(crate) fn start(
        enabled: bool,
        app_name: String,
        timeout: Duration,
        shared: Arc<Shared>,
    ) -> Self {
        if !enabled {
            tracing::info!("desktop notifications disabled by configuration");
            return Self {
                jobs: None,
                timeout,
                withdrawals: Arc::default(),
            };
        }
        let (tx, rx) = sync_channel(QUEUE);
        let withdrawals = Arc::new(AtomicU64::new(0));
        let asked = Arc::clone(&withdrawals);
        let spawned = std::thread::Builder::new()
            .name("clinic-notify".into())
            .spawn(move || run(&rx, &app_name, &shared, &asked));
        if let Err(err) = &spawned {
            tracing::warn!(%err, "could not start the notification thread; notifications are off");
        }
        Self {
            jobs: spawned.ok().map(|_| tx),
            timeout,
            withdrawals,
        }
    }

    /// Shows `notice` and waits (at most the configured timeout) for the daemon's answer.
    pub(crate) fn show(&self, notice: Notice) -> Result<(), NotifyError> {
        let (reply, answer) = sync_channel(1);
        self.enqueue(Job {
            notice,
            reply: Some(reply),
            on_click: None,
            epoch: self.withdrawals.load(Ordering::SeqCst),
        })?;
        match answer.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(NotifyError::TimedOut),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(NotifyError::Stopped),
        }
    }

    /// Queues `notice` without waiting for it to be shown; `on_click` runs if the user clicks
    /// it.
    pub(crate) fn post(
        &self,
        notice: Notice,
        on_click: Option<OnClick>,
    ) -> Result<(), NotifyError> {
        self.enqueue(Job {
            notice,
            reply: None,
            on_click,
            epoch: self.withdrawals.load(Ordering::SeqCst),
        })
    }

    /// Takes the notice tagged `tag` off the screen, if one was shown; returns at once.
    pub(crate) fn withdraw(&self, tag: String) -> Result<(), NotifyError> {
        self.send(Task::Withdraw(tag))
    }

    /// Takes every notice shown off the screen, tagged or not, and drops those still queued;
    /// returns at once.
    pub(crate) fn withdraw_all(&self) -> Result<(), NotifyError> {
        if self.jobs.is_none() {
            return Err(NotifyError::Disabled);
        }
        self.withdrawals.fetch_add(1, Ordering::SeqCst);
        // Only a wake-up: a full queue has tasks enough to make the thread look at the count.
        match self.send(Task::WithdrawAll) {
            Ok(()) | Err(NotifyError::Busy) => Ok(()),
            Err(err) => Err(err),
        }
    }

    fn enqueue(&self, job: Job) -> Result<(), NotifyError> {
        self.send(Task::Show(job))
    }

    fn send(&self, task: Task) -> Result<(), NotifyError> {
        let jobs = self.jobs.as_ref().ok_or(NotifyError::Disabled)?;
        jobs.try_send(task).map_err(|err| match err {
            TrySendError::Full(_) => NotifyError::Busy,
            TrySendError::Disconnected(_) => NotifyError::Stopped,
        })
    }
}

fn run(tasks: &Receiver<Task>, app_name: &str, shared: &Shared, withdrawals: &AtomicU64) {
    // Logged once per outage: the first failure warns, repeats are debug-level until it works again.
    let mut said_unavailable = false;
    let mut shown = Shown::default();
    let mut withdrawn = 0;
    for task in tasks {
        let asked = withdrawals.load(Ordering::SeqCst);
        if asked != withdrawn {
            withdrawn = asked;
            let ids = shown.take_all();
            let closed = ids
                .iter()
                .filter(|id| withdraw(app_name, **id).is_ok())
                .count();
            tracing::debug!(closed, of = ids.len(), "notifications withdrawn");
        }
        let job = match task {
            Task::Show(job) => job,
            Task::Withdraw(tag) => {
                if let Some(id) = shown.remove(&tag) {
                    match withdraw(app_name, id) {
                        Ok(()) => tracing::debug!(tag, "notification withdrawn"),
                        Err(err) => tracing::debug!(%err, tag, "notification not withdrawn"),
                    }
                }
                continue;
            }
            // Carried out above, before any task.
            Task::WithdrawAll => continue,
        };
        if job.epoch != withdrawn {
            if let Some(reply) = job.reply {
                let _ = reply.try_send(Err(NotifyError::Withdrawn));
            }
            continue;
        }
        let critical = job.notice.urgency == Urgency::Critical;
        // One notification per tag: a second notice under a tag shown replaces the first
        // (which could otherwise never be withdrawn again).
        let replaces = job.notice.tag.as_deref().and_then(|tag| shown.get(tag));
        let result = deliver(app_name, &job.notice, replaces, job.on_click).map(|id| {
            // An untagged notice is remembered too, under a key no tag has (tags are the
            // app's own words), so that a logout can take it off the screen.
            let key = job.notice.tag.clone().unwrap_or_else(|| format!("\0{id}"));
            shown.insert(key, id, critical);
        });
        match &result {
            Ok(()) => {
                shared
                    .notices_shown
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if shared.notifications.swap(Availability::Available) == Availability::Unavailable {
                    tracing::info!("desktop notifications work again");
                }
                said_unavailable = false;
            }
            Err(err) => {
                shared.notifications.set(Availability::Unavailable);
                if said_unavailable {
                    tracing::debug!(%err, "notification not shown");
                } else {
                    said_unavailable = true;
                    tracing::warn!(%err, "desktop notifications unavailable; carrying on without them");
                }
            }
        }
        if let Some(reply) = job.reply {
            // The caller may have timed out and gone; that is fine.
            let _ = reply.try_send(result);
        }
    }
}

/// Shows `notice`, in place of notification `replaces` if given; returns the daemon's id for it.
fn deliver(
    app_name: &str,
    notice: &Notice,
    replaces: Option<u32>,
    on_click: Option<OnClick>,
) -> Result<u32, NotifyError> {
    let mut n = notify_rust::Notification::new();
    if let Some(id) = replaces {
        n.id(id);
    }
    n.appname(app_name)
        .summary(&truncate(&notice.title, MAX_TITLE_CHARS))
        .body(&escape_markup(&truncate(&notice.body, MAX_BODY_CHARS)));
    match notice.urgency {
        Urgency::Critical => {
            // Emergencies stay on screen until someone dismisses them.
            n.urgency(notify_rust::Urgency::Critical)
                .timeout(notify_rust::Timeout::Never)
                .hint(notify_rust::Hint::Category("im.error".into()));
        }
        Urgency::Normal => {
            n.urgency(notify_rust::Urgency::Normal)
                .hint(notify_rust::Hint::Category("im.received".into()));
        }
    }
    if on_click.is_some() {
        // The daemon's "default" action is a click on the notification itself.
        n.action("default", "Open");
    }
    let handle = n
        .show()
        .map_err(|err| NotifyError::Unavailable(err.to_string()))?;
    let id = handle.id();
    if let Some(on_click) = on_click {
        wait_for_click(handle, on_click);
    }
    Ok(id)
}

/// Takes notification `id` off the screen. Its words are first replaced by the app's name alone
/// (`Notify` with `replaces_id`, expiring at once): a notification service that keeps the
/// notifications it closed (dunst's history, which a key brings back on screen) would otherwise
/// keep a patient's name and words there, past the lock or the logout that withdrew them.
fn withdraw(app_name: &str, id: u32) -> Result<(), NotifyError> {
    match blank(app_name, id) {
        // A service that no longer had `id` may have shown the blank as a new one: closed too.
        Ok(Some(other)) if other != id => {
            if let Err(err) = close(other) {
                tracing::debug!(%err, id = other, "blank notification not closed");
            }
        }
        Ok(_) => {}
        Err(err) => tracing::debug!(%err, id, "notification not blanked before it is closed"),
    }
    close(id)
}

/// Replaces notification `id`'s title and text by the app's name (a service that no longer
/// shows `id` may show this for the moment before [`close`]; it names nobody). Returns the id
/// the service gave it.
#[cfg(all(unix, not(target_os = "macos")))]
fn blank(app_name: &str, id: u32) -> Result<Option<u32>, NotifyError> {
    notify_rust::Notification::new()
        .appname(app_name)
        .summary(app_name)
        .body("")
        .id(id)
        .urgency(notify_rust::Urgency::Low)
        .hint(notify_rust::Hint::Transient(true))
        .timeout(notify_rust::Timeout::Milliseconds(1))
        .show()
        .map(|handle| Some(handle.id()))
        .map_err(|err| NotifyError::Unavailable(err.to_string()))
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn blank(_app_name: &str, _id: u32) -> Result<Option<u32>, NotifyError> {
    Ok(None)
}

/// Asks the notification service to close notification `id` (freedesktop `CloseNotification`).
/// The handle may be held by the thread waiting for a click, so this goes by id.
#[cfg(all(unix, not(target_os = "macos")))]
fn close(id: u32) -> Result<(), NotifyError> {
    futures_lite::future::block_on(async {
        let connection = zbus::Connection::session().await?;
        connection
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "CloseNotification",
                &(id,),
            )
            .await?;
        Ok::<(), zbus::Error>(())
    })
    .map_err(|err| NotifyError::Unavailable(err.to_string()))
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn close(_id: u32) -> Result<(), NotifyError> {
    Ok(())
}

/// Waits (on a thread of its own, until the notification is clicked or closed) for a click.
#[cfg(all(unix, not(target_os = "macos")))]
fn wait_for_click(handle: notify_rust::NotificationHandle, on_click: OnClick) {
    let spawned = std::thread::Builder::new()
        .name("clinic-notify-click".into())
        .spawn(move || {
            handle.wait_for_action(|action| {
                if action == "default" {
                    on_click();
                }
            });
        });
    if let Err(err) = spawned {
        tracing::debug!(%err, "cannot wait for a notification click");
    }
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn wait_for_click(_handle: notify_rust::NotificationHandle, _on_click: OnClick) {}

/// Escapes `text` for a notification body. Most daemons render a small HTML-like markup in
/// bodies; message text is plain and comes from other people, so it must not be able to add
/// links, images or formatting to a doctor's notification.
fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Cuts `text` to at most `max` characters (never inside a character), marking the cut with "…".
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => {
            let cut = text[..end].char_indices().last().map_or(0, |(i, _)| i);
            format!("{}…", &text[..cut])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_REMEMBERED, Shown, escape_markup, truncate};

    #[test]
    fn past_the_limit_the_oldest_normal_notice_is_forgotten_not_all() {
        let mut tagged = Shown::default();
        tagged.insert("old-message".into(), 1, false);
        tagged.insert("emergency".into(), 2, true);
        for i in 0..MAX_REMEMBERED - 1 {
            tagged.insert(
                format!("message:{i}"),
                3 + u32::try_from(i).unwrap_or(0),
                false,
            );
        }
        assert_eq!(
            tagged.remove("old-message"),
            None,
            "the oldest normal one went"
        );
        assert_eq!(
            tagged.remove("emergency"),
            Some(2),
            "the critical one stays"
        );
        assert_eq!(tagged.remove("message:0"), Some(3));
        tagged.insert("emergency-2".into(), 9999, true);
        tagged.insert("emergency-3".into(), 10_000, true);
        tagged.insert("emergency-4".into(), 10_001, true);
        assert_eq!(
            tagged.remove("message:1"),
            None,
            "room was made by the two removes, then by the oldest normal one"
        );
        assert_eq!(tagged.remove("message:2"), Some(5));
        assert_eq!(tagged.remove("emergency-2"), Some(9999));
        assert_eq!(tagged.remove("emergency-2"), None, "withdrawn once");
    }

    #[test]
    fn body_markup_is_escaped() {
        assert_eq!(
            escape_markup("<a href=\"x\">1 & 2</a>"),
            "&lt;a href=\"x\"&gt;1 &amp; 2&lt;/a&gt;"
        );
    }

    #[test]
    fn truncate_keeps_short_text_and_cuts_long_text_on_char_boundaries() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello!", 5), "hell…");
        assert_eq!(truncate("ééééé é", 5), "éééé…");
        assert_eq!(truncate("", 0), "");
        assert_eq!(truncate("x", 0), "…");
        assert_eq!(truncate(&"🚑".repeat(5000), 1000).chars().count(), 1000);
    }
}
