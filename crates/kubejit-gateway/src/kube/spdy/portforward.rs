//! One port-forward over one SPDY connection, as client-go's `PortForwarder.handleConnection` does
//! it: an error stream (written shut at once, read for the pod side's error text) and a data stream
//! carrying the bytes, both naming the port and one request id. Pure: frames in, actions out, so
//! every server behaviour is unit-tested without a network.

use super::frame::{self, Frame};
use super::headers::{HeaderEncoder, HeadersTooLong};

/// Client streams are odd and increase: the error stream first, as client-go opens it.
pub const ERROR_STREAM: u32 = 1;
pub const DATA_STREAM: u32 = 3;

/// The most error text kept from the pod side (the kubelet's messages are one line).
const MAX_ERROR_TEXT: usize = 4096;

/// The frames that open the forward to `port`: SYN_STREAM for the error stream, its end of
/// writing (DATA with FIN, as client-go's `errorStream.Close()`), and SYN_STREAM for the data
/// stream. Sent together before any data.
pub fn open(port: u16) -> Result<Vec<u8>, HeadersTooLong> {
    let port = port.to_string();
    let mut enc = HeaderEncoder::default();
    // Names as client-go's constants (`streamType`, `port`, `requestID`), lowercased as SPDY/3
    // requires; Go's http.Header canonicalises them again on the server.
    let headers = |kind| {
        [
            ("streamtype", kind),
            ("port", port.as_str()),
            ("requestid", "0"),
        ]
    };
    let error = enc.encode(&headers("error"))?;
    let data = enc.encode(&headers("data"))?;
    Ok([
        frame::syn_stream(ERROR_STREAM, &error),
        frame::data(ERROR_STREAM, true, &[]),
        frame::syn_stream(DATA_STREAM, &data),
    ]
    .concat())
}

/// What to do about one frame from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    None,
    /// Pod bytes for the client; `fin`: the pod side has finished sending.
    ToClient {
        data: &'a [u8],
        fin: bool,
    },
    /// A frame to send back (a PING reply, or refusing a stream the server opened).
    Send(Vec<u8>),
    /// The forward failed; the text is the pod side's or the protocol's reason.
    Failed(String),
}

/// The state of the two streams, as the server's frames report it.
#[derive(Debug, Default)]
pub struct Streams {
    data_done: bool,
    error_done: bool,
    error_text: Vec<u8>,
}

impl Streams {
    /// Both streams ended cleanly: the forward is over.
    pub fn finished(&self) -> bool {
        self.data_done && self.error_done
    }

    pub fn on_frame<'a>(&mut self, f: Frame<'a>) -> Action<'a> {
        match f {
            Frame::Data { stream, fin, data } => self.data(stream, fin, data),
            Frame::Reply { stream, fin } | Frame::Headers { stream, fin } => {
                if stream != ERROR_STREAM && stream != DATA_STREAM {
                    return Action::Failed(format!("SPDY reply for unknown stream {stream}"));
                }
                if fin {
                    self.data(stream, true, &[])
                } else {
                    Action::None
                }
            }
            Frame::Reset { stream, status } => {
                if stream != ERROR_STREAM && stream != DATA_STREAM {
                    Action::None
                } else if self.error_text.is_empty() {
                    Action::Failed(format!(
                        "the pod side reset stream {stream} (status {status})"
                    ))
                } else {
                    // kwok writes its error, then resets the streams instead of closing them.
                    Action::Failed(String::from_utf8_lossy(&self.error_text).into_owned())
                }
            }
            Frame::ServerStream { stream } => {
                Action::Send(frame::rst_stream(stream, frame::REFUSED_STREAM))
            }
            // Even ids are the server's pings (answered); odd ones would answer ours (none sent).
            Frame::Ping { id } if id % 2 == 0 => Action::Send(frame::ping(id)),
            Frame::Ping { .. } | Frame::Ignored => Action::None,
            Frame::GoAway { last_good, status } => {
                if last_good < DATA_STREAM {
                    Action::Failed(format!(
                        "the pod side went away before the forward started (status {status})"
                    ))
                } else {
                    // Our streams were accepted and go on until they end.
                    Action::None
                }
            }
        }
    }

    fn data<'a>(&mut self, stream: u32, fin: bool, data: &'a [u8]) -> Action<'a> {
        match stream {
            DATA_STREAM => {
                if self.data_done {
                    return Action::Failed("SPDY data after the data stream ended".to_owned());
                }
                self.data_done = fin;
                Action::ToClient { data, fin }
            }
            ERROR_STREAM => {
                if self.error_done {
                    return Action::Failed("SPDY data after the error stream ended".to_owned());
                }
                let room = MAX_ERROR_TEXT.saturating_sub(self.error_text.len());
                self.error_text
                    .extend_from_slice(data.get(..room).unwrap_or(data));
                self.error_done = fin;
                // The kubelet writes its error then closes the stream; any text ends the forward.
                if fin && !self.error_text.is_empty() {
                    Action::Failed(String::from_utf8_lossy(&self.error_text).into_owned())
                } else {
                    Action::None
                }
            }
            // A stream the server opened (refused) may still carry frames already in flight.
            s if s % 2 == 0 => Action::None,
            s => Action::Failed(format!("SPDY data on unknown stream {s}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_frames_are_two_streams_and_the_error_streams_end() {
        let bytes = open(8080).unwrap();
        // SYN_STREAM 1, DATA 1 FIN, SYN_STREAM 3: check the frame boundaries and ids.
        let first_len = u32::from_be_bytes([0, bytes[5], bytes[6], bytes[7]]) as usize;
        assert_eq!(&bytes[..4], &[0x80, 3, 0, 1]);
        assert_eq!(&bytes[8..12], &1u32.to_be_bytes());
        let fin = &bytes[8 + first_len..8 + first_len + 8];
        assert_eq!(fin, &frame::data(1, true, &[])[..]);
        let third = &bytes[16 + first_len..];
        assert_eq!(&third[..4], &[0x80, 3, 0, 1]);
        assert_eq!(&third[8..12], &3u32.to_be_bytes());
        // The first header block starts the zlib stream, the second continues it.
        assert_eq!(&bytes[18..20], &[0x78, 0x01]);
        assert_eq!(third[18], 0x00);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("streamtype") && text.contains("8080") && text.contains("requestid"));
    }

    #[test]
    fn pod_bytes_then_clean_end() {
        let mut s = Streams::default();
        assert_eq!(
            s.on_frame(Frame::Reply {
                stream: 1,
                fin: false
            }),
            Action::None
        );
        assert_eq!(
            s.on_frame(Frame::Data {
                stream: 3,
                fin: false,
                data: b"hi"
            }),
            Action::ToClient {
                data: b"hi",
                fin: false
            }
        );
        assert_eq!(
            s.on_frame(Frame::Data {
                stream: 1,
                fin: true,
                data: b""
            }),
            Action::None
        );
        assert!(!s.finished());
        assert_eq!(
            s.on_frame(Frame::Data {
                stream: 3,
                fin: true,
                data: b""
            }),
            Action::ToClient {
                data: b"",
                fin: true
            }
        );
        assert!(s.finished());
    }

    #[test]
    fn error_text_fails_the_forward_and_is_bounded() {
        let mut s = Streams::default();
        let long = vec![b'e'; 3 * MAX_ERROR_TEXT];
        assert_eq!(
            s.on_frame(Frame::Data {
                stream: 1,
                fin: false,
                data: &long
            }),
            Action::None
        );
        let Action::Failed(text) = s.on_frame(Frame::Data {
            stream: 1,
            fin: true,
            data: b"more",
        }) else {
            panic!("error text must fail the forward")
        };
        assert_eq!(text.len(), MAX_ERROR_TEXT);
    }

    #[test]
    fn a_reset_after_error_text_reports_the_text() {
        let mut s = Streams::default();
        let _ = s.on_frame(Frame::Data {
            stream: 1,
            fin: false,
            data: b"failed to dial",
        });
        assert_eq!(
            s.on_frame(Frame::Reset {
                stream: 1,
                status: 5
            }),
            Action::Failed("failed to dial".to_owned())
        );
    }

    #[test]
    fn hostile_server_frames() {
        let mut s = Streams::default();
        // Data after FIN, on unknown client streams, replies for streams never opened: fail.
        let _ = s.on_frame(Frame::Data {
            stream: 3,
            fin: true,
            data: b"",
        });
        assert!(matches!(
            s.on_frame(Frame::Data {
                stream: 3,
                fin: false,
                data: b"x"
            }),
            Action::Failed(_)
        ));
        for f in [
            Frame::Data {
                stream: 5,
                fin: false,
                data: b"x",
            },
            Frame::Reply {
                stream: 7,
                fin: false,
            },
            Frame::Reset {
                stream: 1,
                status: 5,
            },
            Frame::GoAway {
                last_good: 1,
                status: 0,
            },
        ] {
            assert!(
                matches!(Streams::default().on_frame(f), Action::Failed(_)),
                "must fail"
            );
        }
        // Streams the server opens are refused; its pings answered; its other frames ignored.
        assert_eq!(
            s.on_frame(Frame::ServerStream { stream: 2 }),
            Action::Send(frame::rst_stream(2, frame::REFUSED_STREAM))
        );
        assert_eq!(
            s.on_frame(Frame::Ping { id: 4 }),
            Action::Send(frame::ping(4))
        );
        assert_eq!(s.on_frame(Frame::Ping { id: 5 }), Action::None);
        assert_eq!(
            s.on_frame(Frame::Data {
                stream: 2,
                fin: false,
                data: b"x"
            }),
            Action::None
        );
        assert_eq!(
            s.on_frame(Frame::GoAway {
                last_good: 3,
                status: 0
            }),
            Action::None
        );
        assert_eq!(s.on_frame(Frame::Ignored), Action::None);
    }
}
