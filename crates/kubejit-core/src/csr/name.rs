//! The requested subject: exactly one CN plus zero or more O, one attribute per RDN, plain strings.
//!
//! Go (which signs the certificate) and kubejit must read the same names, so only string types whose
//! bytes are the value are accepted: UTF8String (valid UTF-8), PrintableString (its strict alphabet)
//! and IA5String (ASCII). Go would skip values of other types or decode them differently.

use std::collections::BTreeSet;

use der::asn1::AnyRef;
use der::oid::ObjectIdentifier;
use der::{Decode, Reader, SliceReader, Tag, Tagged};

use super::request::{RequestError, RequestedSubject, SubjectError};

const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");

/// One RDN as read: its attributes (type and raw value).
type Rdn<'a> = Vec<(ObjectIdentifier, AnyRef<'a>)>;

/// Reads a `Name` TLV: DER problems are malformed requests, shape problems are subject errors.
pub fn parse_subject(name: &[u8]) -> Result<RequestedSubject, RequestError> {
    let rdns = read_rdns(name).map_err(|e| RequestError::Der {
        reason: format!("subject: {e}"),
    })?;
    Ok(check_subject(&rdns)?)
}

fn read_rdns(name: &[u8]) -> der::Result<Vec<Rdn<'_>>> {
    let mut reader = SliceReader::new(name)?;
    let rdns = reader.sequence(|seq| {
        let mut rdns = Vec::new();
        while !seq.is_finished() {
            let set = AnyRef::decode(seq)?;
            set.tag().assert_eq(Tag::Set)?;
            rdns.push(read_rdn(set.value())?);
        }
        Ok(rdns)
    })?;
    reader.finish(rdns)
}

fn read_rdn(set: &[u8]) -> der::Result<Rdn<'_>> {
    let mut reader = SliceReader::new(set)?;
    let mut atvs = Vec::new();
    while !reader.is_finished() {
        atvs.push(reader.sequence(|atv| {
            let oid = ObjectIdentifier::decode(atv)?;
            let value = AnyRef::decode(atv)?;
            Ok((oid, value))
        })?);
    }
    Ok(atvs)
}

fn check_subject(rdns: &[Rdn<'_>]) -> Result<RequestedSubject, SubjectError> {
    let mut common_name = None;
    let mut organizations = Vec::new();
    let mut seen = BTreeSet::new();
    for rdn in rdns {
        let [(oid, value)] = rdn.as_slice() else {
            return Err(SubjectError::MultiValuedRdn { count: rdn.len() });
        };
        let value = string_value(oid, *value)?;
        if *oid == OID_COMMON_NAME {
            if common_name.replace(value.to_owned()).is_some() {
                return Err(SubjectError::MultipleCommonNames);
            }
        } else if *oid == OID_ORGANIZATION {
            if !seen.insert(value) {
                return Err(SubjectError::DuplicateOrganization {
                    value: value.to_owned(),
                });
            }
            organizations.push(value.to_owned());
        } else {
            return Err(SubjectError::UnexpectedAttribute {
                oid: oid.to_string(),
            });
        }
    }
    let common_name = common_name.ok_or(SubjectError::NoCommonName)?;
    Ok(RequestedSubject {
        common_name,
        organizations,
    })
}

fn string_value<'a>(oid: &ObjectIdentifier, value: AnyRef<'a>) -> Result<&'a str, SubjectError> {
    let bytes = value.value();
    let text = match value.tag() {
        Tag::Utf8String => std::str::from_utf8(bytes).ok(),
        Tag::PrintableString if bytes.iter().all(|b| is_printable(*b)) => {
            std::str::from_utf8(bytes).ok()
        }
        Tag::Ia5String if bytes.is_ascii() => std::str::from_utf8(bytes).ok(),
        _ => None,
    };
    text.ok_or_else(|| SubjectError::NotAString {
        oid: oid.to_string(),
    })
}

/// X.680 PrintableString: letters, digits, space and `'()+,-./:=?`.
fn is_printable(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b' ' | b'\'' | b'(' | b')' | b'+' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?'
        )
}
