//! The embedded sounds (alarm loop, message chime) and a minimal decoder for their WAV format.
//!
//! The WAVs are compiled into the binary with `include_bytes!`, so neither the server nor the
//! desktop app needs an `assets/` folder at run time. We decode them ourselves (16-bit PCM only)
//! instead of enabling rodio's symphonia decoders, which would add a large dependency tree for
//! two files whose format we control.

use std::num::NonZero;

use rodio::buffer::SamplesBuffer;

/// The alarm loop: ~1 s of alternating two-tone pulses, 16-bit mono 48 kHz.
pub const ALARM_WAV: &[u8] = include_bytes!("../../assets/sounds/alarm.wav");
/// The soft "new message" chime, 16-bit mono 48 kHz.
pub const MESSAGE_WAV: &[u8] = include_bytes!("../../assets/sounds/message.wav");

/// Why a WAV could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WavError {
    /// The bytes do not start with a RIFF/WAVE header.
    #[error("not a RIFF/WAVE file")]
    NotWave,
    /// A chunk header claims more bytes than the file has.
    #[error("truncated WAV chunk")]
    Truncated,
    /// The `fmt ` or `data` chunk is missing.
    #[error("WAV without fmt or data chunk")]
    MissingChunk,
    /// Anything but uncompressed 16-bit PCM with 1..=8 channels and a non-zero rate.
    #[error("unsupported WAV format (want 16-bit PCM)")]
    Unsupported,
}

/// A decoded sound, ready to hand to rodio. Cloning is cheap (the samples are shared).
#[derive(Debug, Clone)]
pub struct Sound {
    buffer: SamplesBuffer,
}

impl Sound {
    /// Decodes a 16-bit PCM WAV.
    pub fn from_wav(bytes: &[u8]) -> Result<Self, WavError> {
        let pcm = parse_wav(bytes)?;
        let samples: Vec<f32> = pcm
            .data
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
        Ok(Self {
            buffer: SamplesBuffer::new(pcm.channels, pcm.rate, samples),
        })
    }

    /// A fresh source that plays the sound once from the start.
    pub fn source(&self) -> SamplesBuffer {
        self.buffer.clone()
    }

    /// How long one play-through lasts.
    pub fn duration(&self) -> std::time::Duration {
        rodio::Source::total_duration(&self.buffer).unwrap_or_default()
    }
}

/// The raw PCM payload of a WAV and its layout.
struct Pcm<'a> {
    channels: NonZero<u16>,
    rate: NonZero<u32>,
    data: &'a [u8],
}

fn parse_wav(bytes: &[u8]) -> Result<Pcm<'_>, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }
    let mut rest = &bytes[12..];
    let mut format = None;
    let mut data = None;
    while rest.len() >= 8 {
        let id = &rest[0..4];
        let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let end = len.checked_add(8).ok_or(WavError::Truncated)?;
        let body = rest.get(8..end).ok_or(WavError::Truncated)?;
        match id {
            b"fmt " => format = Some(parse_format(body)?),
            b"data" => data = Some(body),
            _ => {}
        }
        // Chunks are padded to an even length.
        let next = end.saturating_add(len & 1).min(rest.len());
        rest = &rest[next..];
    }
    let ((channels, rate), data) = format.zip(data).ok_or(WavError::MissingChunk)?;
    let frame = 2 * usize::from(channels.get());
    let data = &data[..data.len() - data.len() % frame];
    Ok(Pcm {
        channels,
        rate,
        data,
    })
}

fn parse_format(body: &[u8]) -> Result<(NonZero<u16>, NonZero<u32>), WavError> {
    if body.len() < 16 {
        return Err(WavError::Truncated);
    }
    let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
    let (tag, channels, bits) = (u16_at(0), u16_at(2), u16_at(14));
    let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
    let channels = NonZero::new(channels).filter(|c| c.get() <= 8);
    match (tag, bits, channels, NonZero::new(rate)) {
        (1, 16, Some(channels), Some(rate)) => Ok((channels, rate)),
        _ => Err(WavError::Unsupported),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn embedded_sounds_decode_as_short_mono_48k() {
        for (wav, min, max) in [
            (
                ALARM_WAV,
                Duration::from_millis(800),
                Duration::from_millis(1200),
            ),
            (
                MESSAGE_WAV,
                Duration::from_millis(200),
                Duration::from_millis(800),
            ),
        ] {
            let pcm = parse_wav(wav).unwrap();
            assert_eq!((pcm.channels.get(), pcm.rate.get()), (1, 48_000));
            let sound = Sound::from_wav(wav).unwrap();
            assert!(
                (min..=max).contains(&sound.duration()),
                "{:?}",
                sound.duration()
            );
        }
    }

    #[test]
    fn alarm_is_loud_and_chime_is_softer() {
        let peak = |wav| {
            parse_wav(wav)
                .unwrap()
                .data
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs())
                .max()
                .unwrap()
        };
        assert!(peak(ALARM_WAV) > 20_000);
        assert!(peak(MESSAGE_WAV) < peak(ALARM_WAV) / 2);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert_eq!(parse_wav(b"").err(), Some(WavError::NotWave));
        assert_eq!(
            parse_wav(b"RIFF\0\0\0\0WAVE").err(),
            Some(WavError::MissingChunk)
        );
        let mut huge = b"RIFF\0\0\0\0WAVEdata".to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse_wav(&huge).err(), Some(WavError::Truncated));
        let mut float = ALARM_WAV.to_vec();
        float[20] = 3; // IEEE float format tag
        assert_eq!(parse_wav(&float).err(), Some(WavError::Unsupported));
        // Every prefix of a valid file is rejected or decoded, never a panic.
        for n in 0..200 {
            let _ = Sound::from_wav(&ALARM_WAV[..n]);
        }
    }
}
