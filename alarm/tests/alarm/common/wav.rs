//! Reading a captured WAV (as written by ALSA's `file` plugin) and finding the alarm's pulses in it.
#![allow(dead_code, clippy::unwrap_used)]

/// Channel 0 of a WAV as floats in -1..1, and its sample rate. Tolerates a header whose data
/// length was never filled in (a capture that is still being written).
pub fn read_channel0(bytes: &[u8]) -> (Vec<f32>, u32) {
    assert!(
        bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "not a WAV"
    );
    let mut pos = 12;
    let mut format = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            let f = &bytes[body..body + 16];
            let u16_at = |i: usize| u16::from_le_bytes([f[i], f[i + 1]]);
            let rate = u32::from_le_bytes(f[4..8].try_into().unwrap());
            format = Some((u16_at(0), u16_at(2) as usize, rate, u16_at(14)));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = format.expect("fmt before data");
            let end = if len == 0 {
                bytes.len()
            } else {
                (body + len).min(bytes.len())
            };
            let frame = channels * usize::from(bits / 8);
            let samples = bytes[body..end]
                .chunks_exact(frame)
                .map(|f| match (tag, bits) {
                    (1, 16) => f32::from(i16::from_le_bytes([f[0], f[1]])) / 32768.0,
                    (1, 32) => {
                        i32::from_le_bytes(f[0..4].try_into().unwrap()) as f32 / 2_147_483_648.0
                    }
                    (3, 32) => f32::from_le_bytes(f[0..4].try_into().unwrap()),
                    other => panic!("unexpected capture format {other:?}"),
                })
                .collect();
            return (samples, rate);
        }
        pos = body + len + (len & 1);
    }
    panic!("no data chunk");
}

/// A stretch of sound between silences: where it starts, how long, its pitch and loudness.
#[derive(Debug)]
pub struct Pulse {
    pub start: usize,
    pub len: usize,
    pub freq: f32,
    pub peak: f32,
}

/// Splits `samples` into loud stretches (5 ms windows above -30 dBFS RMS). The pitch is
/// estimated from zero crossings, which suits our tones: their harmonics add no extra crossings.
pub fn pulses(samples: &[f32], rate: u32) -> Vec<Pulse> {
    let window = (rate / 200) as usize;
    let loud: Vec<bool> = samples
        .chunks(window)
        .map(|w| (w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32).sqrt() > 0.03)
        .collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < loud.len() {
        if !loud[i] {
            i += 1;
            continue;
        }
        let first = i;
        while i < loud.len() && loud[i] {
            i += 1;
        }
        let part = &samples[first * window..(i * window).min(samples.len())];
        let crossings = part
            .windows(2)
            .filter(|p| (p[0] < 0.0) != (p[1] < 0.0))
            .count();
        found.push(Pulse {
            start: first * window,
            len: part.len(),
            freq: crossings as f32 / 2.0 / (part.len() as f32 / rate as f32),
            peak: part.iter().fold(0.0, |m: f32, s| m.max(s.abs())),
        });
    }
    found
}

/// Whether `freq` is within 5 % of `target`.
pub fn near(freq: f32, target: f32) -> bool {
    (freq - target).abs() < target * 0.05
}
