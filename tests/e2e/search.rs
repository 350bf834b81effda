//! Search in the real app: the box in the top bar finds a message the server holds (by a prefix
//! and an accent-free spelling), marks what matched, and a result opens the conversation at
//! that message.

use super::{World, click_css, signed_in};
use anyhow::{Context, Result};

const NEEDLE: &str = "Take the Amoxicillin-Clavulanate twice a day; Dr. Müller agrees.";

pub(super) async fn search(w: &World) -> Result<()> {
    // The doctor's older message, then enough newer ones that it is off screen when the chat
    // opens.
    w.patel.run(&["send", "--with", "alice", NEEDLE])?;
    for i in 0..30 {
        w.patel
            .run(&["send", "--with", "alice", &format!("Later note {i}.")])?;
    }
    w.patel.run(&["sync"])?;

    let (driver, app) = w.app(&w.profile("alice")).await?;
    signed_in(w, &app, "alice").await?;
    // Enter submits the search (WebDriver's Enter key).
    app.fill("search-input", "amoxi muller\u{E007}").await?;
    let hit = "[data-testid=search-result]";
    app.wait_until(&format!("{hit} mark"), "the matches marked", |found| {
        let marked: Vec<&str> = found.iter().map(|(t, _)| t.as_str()).collect();
        marked.contains(&"Amoxicillin") && marked.contains(&"Müller")
    })
    .await?;
    w.shot(&app, "search", true).await?;

    click_css(&app, hit).await?;
    app.wait_until(
        "[data-highlighted=true]",
        "the conversation open at the message",
        |found| found.iter().any(|(t, _)| t.contains("Dr. Müller agrees")),
    )
    .await
    .context("jump to the result")?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}
