//! Strict DER reading of a PKCS#10 CertificationRequest (RFC 2986) into its signed parts.
//!
//! Uses the `der` crate, which accepts DER only: minimal definite lengths (no long form where the short
//! one fits, no indefinite BER lengths), minimal INTEGERs, one-byte tags, and no bytes after an element
//! or after the last field of a SEQUENCE. Every field read here is either decoded by `der` (and thereby
//! checked) or kept as a TLV whose content the caller decodes strictly in turn (name, public key,
//! attributes). So each accepted request has exactly one encoding, and every parser that reads DER
//! reads the same values from it.

use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Header, Reader, SliceReader, Tag, TagNumber};
use spki::AlgorithmIdentifierRef;

/// The parts of a request, borrowed from its DER.
#[derive(Debug)]
pub struct Pkcs10<'a> {
    /// The complete `CertificationRequestInfo` TLV: the bytes the signature covers.
    pub info: &'a [u8],
    pub version: u32,
    /// The subject `Name` TLV.
    pub subject: &'a [u8],
    /// The `SubjectPublicKeyInfo` TLV.
    pub public_key_info: &'a [u8],
    /// The contents of the `[0] IMPLICIT SET OF Attribute`.
    pub attributes: &'a [u8],
    pub signature_algorithm: AlgorithmIdentifierRef<'a>,
    pub signature: BitStringRef<'a>,
}

/// Splits `der` into its parts; any deviation from strict DER is an error.
pub fn parse(der: &[u8]) -> der::Result<Pkcs10<'_>> {
    let mut reader = SliceReader::new(der)?;
    let (info, signature_algorithm, signature) = reader.sequence(|r| {
        let info = r.tlv_bytes()?;
        let algorithm = AlgorithmIdentifierRef::decode(r)?;
        let signature = BitStringRef::decode(r)?;
        Ok((info, algorithm, signature))
    })?;
    reader.finish(())?;
    let mut reader = SliceReader::new(info)?;
    let (version, subject, public_key_info, attributes) = reader.sequence(|r| {
        let version = u32::decode(r)?;
        let subject = r.tlv_bytes()?;
        let public_key_info = r.tlv_bytes()?;
        let header = Header::decode(r)?;
        header.tag.assert_eq(Tag::ContextSpecific {
            constructed: true,
            number: TagNumber::N0,
        })?;
        let attributes = r.read_slice(header.length)?;
        Ok((version, subject, public_key_info, attributes))
    })?;
    reader.finish(())?;
    Ok(Pkcs10 {
        info,
        version,
        subject,
        public_key_info,
        attributes,
        signature_algorithm,
        signature,
    })
}

/// The object identifier of the first attribute, or `None` when there are none.
pub fn first_attribute(attributes: &[u8]) -> der::Result<Option<der::oid::ObjectIdentifier>> {
    if attributes.is_empty() {
        return Ok(None);
    }
    let mut reader = SliceReader::new(attributes)?;
    reader.sequence(|r| {
        let oid = der::oid::ObjectIdentifier::decode(r)?;
        let _values = AnyRef::decode(r)?;
        Ok(Some(oid))
    })
}
