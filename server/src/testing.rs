//! For tests (in this and other crates) that edit a serving server's database file directly.

use crate::accounts::{AccountError, open};
use crate::store::writer::run_direct;
use std::path::Path;

/// Moves every logged send into `messages`, as the server itself does within milliseconds of
/// acknowledging it. A test that rewrites acknowledged messages from another process (to age them
/// past a window, say) calls this first: a row still in the log would otherwise be missed, and
/// once moved it stays in `messages`. Safe while a server serves the folder; the CLI's commands
/// move the log the same way before they write.
pub fn move_send_log(data_dir: &Path) -> Result<(), AccountError> {
    let mut conn = open(data_dir)?;
    run_direct(&mut conn, |_, _| Ok::<_, AccountError>(()))
}
