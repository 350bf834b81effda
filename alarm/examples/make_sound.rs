//! Generates the alarm and message sounds in `assets/sounds/` (run: `cargo run -p clinic-alarm --example make_sound`).
//!
//! The sounds are synthesised here rather than downloaded so that their provenance and licence are
//! ours (see `assets/README.md`). The output is deterministic (no randomness, fixed parameters),
//! so re-running it reproduces the committed files byte for byte.

use std::f64::consts::PI;
use std::path::PathBuf;

const RATE: u32 = 48_000;

/// One tone in a sound: start and length in seconds, fundamental in Hz, peak level (0..1).
struct Tone {
    start: f64,
    length: f64,
    freq: f64,
    level: f64,
    /// Exponential decay per second; 0 keeps the level flat (alarm pulses), >0 rings out (chime).
    decay: f64,
}

/// Mixes `tones` into a mono buffer of `seconds` length.
fn render(seconds: f64, tones: &[Tone], harmonics: &[f64]) -> Vec<f64> {
    let len = (seconds * f64::from(RATE)).round() as usize;
    let mut out = vec![0.0; len];
    for tone in tones {
        let first = (tone.start * f64::from(RATE)).round() as usize;
        let count = (tone.length * f64::from(RATE)).round() as usize;
        // 5 ms raised-cosine edges: no clicks at the pulse edges or at the loop seam.
        let ramp = (0.005 * f64::from(RATE)) as usize;
        for i in 0..count {
            let t = i as f64 / f64::from(RATE);
            let edge = if i < ramp {
                0.5 - 0.5 * (PI * i as f64 / ramp as f64).cos()
            } else if count - i <= ramp {
                0.5 - 0.5 * (PI * (count - i) as f64 / ramp as f64).cos()
            } else {
                1.0
            };
            let envelope = tone.level * edge * (-tone.decay * t).exp();
            // A few harmonics make the tone cut through on small laptop speakers
            // (medical alarm standards ask for several harmonics for the same reason).
            let wave: f64 = harmonics
                .iter()
                .enumerate()
                .map(|(n, amp)| amp * (2.0 * PI * tone.freq * (n as f64 + 1.0) * t).sin())
                .sum();
            if let Some(sample) = out.get_mut(first + i) {
                *sample += envelope * wave;
            }
        }
    }
    out
}

/// The alarm: 1 s loop of four alternating high/low pulses (B5 / E6) and a short pause, so that
/// repeated loops read as an urgent, unmistakable rhythm rather than a continuous drone.
fn alarm() -> Vec<f64> {
    let (low, high) = (987.77, 1318.51);
    let tones: Vec<Tone> = [low, high, low, high]
        .iter()
        .enumerate()
        .map(|(n, &freq)| Tone {
            start: n as f64 * 0.18,
            length: 0.15,
            freq,
            level: 0.9,
            decay: 0.0,
        })
        .collect();
    render(1.0, &tones, &[1.0, 0.0, 0.3, 0.0, 0.15])
}

/// The message chime: a soft descending two-note "ding-dong" (E6 then C6) that rings out.
fn chime() -> Vec<f64> {
    let tone = |start, freq| Tone {
        start,
        length: 0.5 - start,
        freq,
        level: 0.22,
        decay: 6.0,
    };
    render(0.5, &[tone(0.0, 1318.51), tone(0.12, 1046.50)], &[1.0, 0.1])
}

/// Encodes mono samples (-1..1) as a canonical 44-byte-header 16-bit PCM WAV.
fn wav(samples: &[f64]) -> std::io::Result<Vec<u8>> {
    let data_len = u32::try_from(samples.len() * 2)
        .map_err(|_| std::io::Error::other("sound too long for a WAV"))?;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * f64::from(i16::MAX)).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/sounds"));
    std::fs::create_dir_all(&dir)?;
    for (name, samples) in [("alarm.wav", alarm()), ("message.wav", chime())] {
        let path = dir.join(name);
        let bytes = wav(&samples)?;
        std::fs::write(&path, &bytes)?;
        println!("wrote {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}
