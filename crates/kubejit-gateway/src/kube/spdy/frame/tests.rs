//! The server's frames as an attacker would craft them: truncated, oversized, wrong version,
//! wrong lengths, unknown types, split at every byte.

use proptest::prelude::*;

use super::*;

fn control(kind: u16, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    control_header(&mut out, kind, flags, body.len());
    out.extend_from_slice(body);
    out
}

fn decode_all(bytes: &[u8]) -> Result<Vec<String>, FrameError> {
    let mut d = Decoder::default();
    d.push(bytes);
    let mut out = Vec::new();
    while let Some(f) = d.next_frame()? {
        out.push(format!("{f:?}"));
    }
    Ok(out)
}

#[test]
fn data_frames_round_trip() {
    let mut d = Decoder::default();
    d.push(&data(3, false, b"hello"));
    d.push(&data(3, true, b""));
    assert_eq!(
        d.next_frame(),
        Ok(Some(Frame::Data {
            stream: 3,
            fin: false,
            data: b"hello"
        }))
    );
    assert_eq!(
        d.next_frame(),
        Ok(Some(Frame::Data {
            stream: 3,
            fin: true,
            data: b""
        }))
    );
    assert_eq!(d.next_frame(), Ok(None));
}

#[test]
fn control_frames_the_server_sends() {
    let reply = control(SYN_REPLY, FLAG_FIN, &[0, 0, 0, 1, 0x78, 0x9c, 1, 2, 3]);
    let rst = rst_stream(3, CANCEL);
    let png = ping(2);
    let goaway = control(GOAWAY, 0, &[0, 0, 0, 3, 0, 0, 0, 0]);
    let headers = control(HEADERS, 0, &[0, 0, 0, 3, 9, 9]);
    let push = control(SYN_STREAM, 0, &[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1]);
    let mut d = Decoder::default();
    for f in [&reply, &rst, &png, &goaway, &headers, &push] {
        d.push(f);
    }
    let mut got = Vec::new();
    while let Some(f) = d.next_frame().unwrap() {
        got.push(format!("{f:?}"));
    }
    let want = [
        Frame::Reply {
            stream: 1,
            fin: true,
        },
        Frame::Reset {
            stream: 3,
            status: CANCEL,
        },
        Frame::Ping { id: 2 },
        Frame::GoAway {
            last_good: 3,
            status: 0,
        },
        Frame::Headers {
            stream: 3,
            fin: false,
        },
        Frame::ServerStream { stream: 2 },
    ]
    .map(|f| format!("{f:?}"));
    assert_eq!(got, want);
}

#[test]
fn settings_window_updates_and_unknown_types_are_ignored() {
    let settings = control(SETTINGS, 0, &[0, 0, 0, 1, 0, 0, 0, 7, 0, 1, 0, 0]);
    let window = control(WINDOW_UPDATE, 0, &[0, 0, 0, 0, 0, 1, 0, 0]);
    let unknown = control(0x7777, 0xff, &[1, 2, 3]);
    let all = [settings, window, unknown].concat();
    assert_eq!(decode_all(&all).unwrap(), vec!["Ignored"; 3]);
}

#[test]
fn an_oversized_frame_is_refused_from_its_header_alone() {
    // Only the 8-byte header arrived: the decoder refuses before buffering the body.
    let mut head = data(3, false, &[]);
    head[5..8].copy_from_slice(&((MAX_DATA + 1) as u32).to_be_bytes()[1..]);
    assert!(matches!(
        decode_all(&head),
        Err(FrameError::TooLarge { kind: "DATA", .. })
    ));
    let mut head = control(SYN_REPLY, 0, &[]);
    head[5..8].copy_from_slice(&((MAX_CONTROL + 1) as u32).to_be_bytes()[1..]);
    assert!(matches!(
        decode_all(&head),
        Err(FrameError::TooLarge {
            kind: "control",
            ..
        })
    ));
    // The largest accepted DATA frame decodes.
    let big = data(3, false, &vec![7; MAX_DATA]);
    assert_eq!(decode_all(&big).unwrap().len(), 1);
}

#[test]
fn wrong_version_and_lengths_are_refused() {
    let mut v2 = ping(2);
    v2[1] = 2;
    assert_eq!(decode_all(&v2), Err(FrameError::Version(2)));
    for (kind, len) in [
        (RST_STREAM, 4),
        (RST_STREAM, 12),
        (PING, 8),
        (GOAWAY, 4),
        (WINDOW_UPDATE, 4),
        (SYN_STREAM, 9),
        (SYN_REPLY, 3),
        (HEADERS, 0),
        (SETTINGS, 2),
    ] {
        let f = control(kind, 0, &vec![0; len]);
        assert_eq!(
            decode_all(&f),
            Err(FrameError::Length { kind, len }),
            "type {kind}"
        );
    }
}

#[test]
fn stream_zero_is_refused() {
    assert_eq!(
        decode_all(&data(0, false, b"x")),
        Err(FrameError::StreamZero)
    );
    assert_eq!(
        decode_all(&rst_stream(0, CANCEL)),
        Err(FrameError::StreamZero)
    );
    assert_eq!(
        decode_all(&control(SYN_REPLY, 0, &[0, 0, 0, 0])),
        Err(FrameError::StreamZero)
    );
    // A connection-level WINDOW_UPDATE (stream 0) is valid SPDY/3.1.
    assert_eq!(
        decode_all(&control(WINDOW_UPDATE, 0, &[0; 8])).unwrap(),
        vec!["Ignored"]
    );
}

#[test]
fn encoded_frames_have_the_spdy3_layout() {
    assert_eq!(ping(2), [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 2]);
    assert_eq!(
        rst_stream(3, CANCEL),
        [0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 5]
    );
    assert_eq!(data(3, true, b"ab"), [0, 0, 0, 3, 1, 0, 0, 2, b'a', b'b']);
    assert_eq!(
        syn_stream(1, b"HB"),
        [
            0x80, 3, 0, 1, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, b'H', b'B'
        ]
    );
}

proptest! {
    /// Any bytes, in any split: no panic, and the decoder holds at most one frame's worth.
    #[test]
    fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096), cut in 0usize..4096) {
        let cut = cut.min(bytes.len());
        let mut d = Decoder::default();
        for part in [&bytes[..cut], &bytes[cut..]] {
            d.push(part);
            while let Ok(Some(_)) = d.next_frame() {}
        }
        prop_assert!(d.buf.len() <= bytes.len());
    }

    /// Valid frames split at any point decode to the same frames.
    #[test]
    fn frames_split_anywhere_decode_the_same(payload in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..400) {
        let stream = [data(3, false, &payload), ping(4), data(1, true, &[])].concat();
        let cut = cut.min(stream.len());
        let whole = decode_all(&stream).unwrap();
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for part in [&stream[..cut], &stream[cut..]] {
            d.push(part);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(format!("{f:?}"));
            }
        }
        prop_assert_eq!(got, whole);
    }
}
