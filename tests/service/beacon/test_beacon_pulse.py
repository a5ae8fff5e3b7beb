import hashlib
import json
from pathlib import Path

import _nistir_oracle as nistir
import pytest

from diamp.service.beacon.crypto import load_certificate
from diamp.service.beacon.errors import PulseFormatError
from diamp.service.beacon.pulse import Pulse, format_timestamp, parse_timestamp

# copies of shared/vectors: a real NIST pulse (chain 1, pulse 54610) and NIST's certificate
VECTORS = Path(__file__).resolve().parent / "data"
PULSE_FILE = VECTORS / "nist-beacon-2.0-chain1-pulse54610.json"
CERT_FILE = VECTORS / "nist-beacon-2018-cert.pem"


@pytest.fixture(scope="module")
def nist() -> dict:
    return json.loads(PULSE_FILE.read_text())


def test_signed_bytes_equal_an_independent_serialisation(nist: dict) -> None:
    pulse = Pulse.from_dict(nist)
    assert pulse.signed_bytes() == nistir.signed_message(nist["pulse"])


def test_serializer_reproduces_nist_output_value(nist: dict) -> None:
    pulse = Pulse.from_dict(nist)
    expected = bytes.fromhex(nist["pulse"]["outputValue"])
    assert pulse.computed_output() == expected
    # the pin is not circular: the output differs as soon as one signed byte differs
    other = Pulse.from_dict(nist | {"pulse": nist["pulse"] | {"statusCode": 1}})
    assert other.computed_output() != expected


def test_nist_signature_and_certificate_id(nist: dict) -> None:
    cert = load_certificate(CERT_FILE)
    pulse = Pulse.from_dict(nist)
    assert cert.id == pulse.certificate_id
    assert cert.verify(pulse.signed_bytes(), pulse.signature_value)
    tampered = pulse.signed_bytes()[:-1] + b"\x01"
    assert not cert.verify(tampered, pulse.signature_value)
    nistir.check_pulse(nist["pulse"], CERT_FILE.read_bytes())


def test_json_round_trip_is_exact(nist: dict) -> None:
    assert {"pulse": Pulse.from_dict(nist).to_dict()} == nist


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("timeStamp",), "2018-08-30 17:44:00", "timeStamp"),
        (("localRandomValue",), "XYZ", "localRandomValue"),
        (("chainIndex",), -1, "chainIndex"),
        (("period",), "60000", "period"),
        (("external", "statusCode"), None, "external.statusCode"),
    ],
)
def test_malformed_fields_are_named(nist: dict, path: tuple, value: object, field: str) -> None:
    data = json.loads(json.dumps(nist))
    target = data["pulse"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(PulseFormatError) as info:
        Pulse.from_dict(data, where="p.json")
    assert info.value.fields["field"] == field
    assert str(info.value).startswith("p.json")


def test_missing_list_value_is_named(nist: dict) -> None:
    data = json.loads(json.dumps(nist))
    del data["pulse"]["listValues"][2]
    with pytest.raises(PulseFormatError, match="listValues"):
        Pulse.from_dict(data)


def test_timestamps_against_datetime_oracle() -> None:
    import datetime as dt

    for ms in (0, 1535651040000, 1535651040123, 4102444799999, 951782400000):
        t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
        oracle = t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert format_timestamp(ms) == oracle
        assert parse_timestamp(oracle) == ms
    assert parse_timestamp("2018-08-30T17:44:00.000Z") == 1535651040000
    with pytest.raises(PulseFormatError):
        parse_timestamp("2018-02-30T00:00:00.000Z")


def test_certificate_id_is_sha512_of_der_not_pem() -> None:
    cert = load_certificate(CERT_FILE)
    assert cert.id != hashlib.sha512(CERT_FILE.read_bytes()).digest()
