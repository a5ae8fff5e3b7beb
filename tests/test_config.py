"""Tests for diamp.config.parse_config: valid configs, and errors that name file and key."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from _runconfig import Raw, run_config, sim_instrument, write_config
from diamp.config import (
    AdaptiveProtocol,
    FixedProtocol,
    LhvDevice,
    QuantumDevice,
    RunConfig,
    load_config,
    parse_config,
)
from diamp.errors import ConfigError

PATH = "lab/run-42.toml"

# This module's config on the shared base: every key written out, values as TOML text.
UNIT: dict[str, dict[str, Any]] = {
    "run": {
        "name": "unit",
        "seed": 20241223,
        "blocks": 8,
        "trials_per_block": 4_194_304,
        "segment_trials": 1_048_576,
    },
    "sources": {
        "mu": "0.0075",
        "alice": {"model": "iid", "bias": 0.004},
        "bob": {"model": "markov", "bias": -0.004},
        "z_source": "bob",
    },
    "device": {"model": "quantum", "visibility": 0.95, "readout_fidelity": 0.985},
    "protocol": {"mode": "fixed", "s_mu_threshold": "0.0065", "eps": 1e-12},
    "extractor": {"verify_bits": 64},
}


def make_text(
    *,
    top: str = "schema_version = 1",
    drop: tuple[str, ...] = (),
    **overrides: dict[str, str | None],
) -> str:
    """Config text of UNIT with ``overrides[section][key]`` = TOML text (None removes a key).

    A device model / protocol mode given explicitly starts that section from scratch.
    """
    raw = {
        section: {key: None if value is None else Raw(value) for key, value in values.items()}
        for section, values in overrides.items()
    }
    return run_config(UNIT, raw, top=top, drop=drop)


def config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, PATH)
    assert PATH in str(info.value)
    return info.value


def assert_names(err: ConfigError, key: str) -> None:
    """The message names the dotted key as a whole word (``device.visibility:``)."""
    assert re.search(rf"(?<![\w.]){re.escape(key)}(?![\w])", str(err)), str(err)


# --------------------------------------------------------------------------- valid text


def test_parse_valid_config() -> None:
    text = make_text()
    loaded = parse_config(text, PATH)
    assert loaded.text == text
    assert loaded.path == PATH
    assert re.fullmatch(r"[0-9a-f]{64}", loaded.sha256)
    cfg = loaded.config
    assert isinstance(cfg, RunConfig)
    assert cfg.schema_version == 1
    assert cfg.run.name == "unit"
    assert cfg.run.seed == 20241223
    assert cfg.run.blocks == 8
    assert cfg.run.trials_per_block == 2**22
    assert cfg.run.segment_trials == 2**20
    assert cfg.n_trials == 8 * 2**22
    assert cfg.sources.mu == Fraction(3, 400)
    assert isinstance(cfg.sources.mu, Fraction)
    assert (cfg.sources.alice.model, cfg.sources.alice.bias) == ("iid", 0.004)
    assert (cfg.sources.bob.model, cfg.sources.bob.bias) == ("markov", -0.004)
    assert cfg.sources.z_source == "bob"
    assert isinstance(cfg.device, QuantumDevice)
    assert cfg.device.visibility == 0.95
    assert cfg.device.fidelities == (0.985, 0.985)
    assert isinstance(cfg.protocol, FixedProtocol)
    assert cfg.protocol.s_mu_threshold == Fraction(13, 2000)
    assert cfg.protocol.eps == 1e-12
    assert cfg.extractor.verify_bits == 64


def test_parse_repository_configs() -> None:
    root = Path(__file__).resolve().parents[1] / "configs"
    quantum = load_config(root / "simulated.toml").config
    assert isinstance(quantum.device, QuantumDevice)
    classical = load_config(root / "simulated-classical.toml").config
    assert isinstance(classical.device, LhvDevice)
    assert quantum.sources.mu == classical.sources.mu == Fraction(3, 400)


def test_config_objects_are_frozen() -> None:
    cfg = parse_config(make_text(), PATH).config
    with pytest.raises(ValueError):
        cfg.run.blocks = 3  # type: ignore[misc]


@pytest.mark.parametrize("mu", ['"0.0075"', "0.0075", '" 0.0075 "', '"3/400"'])
def test_mu_string_and_float_are_exact(mu: str) -> None:
    cfg = parse_config(make_text(sources={"mu": mu}), PATH).config
    assert cfg.sources.mu == Fraction(3, 400)
    assert type(cfg.sources.mu) is Fraction


def test_asymmetric_readout_fidelity_pair() -> None:
    text = make_text(device={"readout_fidelity": "[0.97, 0.93]"})
    device = parse_config(text, PATH).config.device
    assert isinstance(device, QuantumDevice)
    assert device.fidelities == (0.97, 0.93)


@pytest.mark.parametrize("mu", ['"0.1"', "0.1", '"0.0075"', '"0.2"', '"0.004"', "0.3"])
def test_bias_equal_to_mu_is_inside_the_bound(mu: str) -> None:
    # |bias| <= mu: a bias written with the same decimal as mu is on the bound, not beyond it
    value = mu.strip('"')
    text = make_text(
        sources={"mu": mu, "alice": f'{{ model = "iid", bias = {value} }}'},
        protocol={"mode": '"fixed"', "s_mu_threshold": '"1e-12"'},  # below S_mu^Q at any mu
    )
    cfg = parse_config(text, PATH).config
    assert cfg.sources.alice.bias == float(value)


# ----------------------------------------------------------------- device / protocol models


def test_lhv_device() -> None:
    cfg = parse_config(make_text(device={"model": '"lhv"', "noise": "0.25"}), PATH).config
    assert isinstance(cfg.device, LhvDevice)
    assert cfg.device.noise == 0.25
    cfg = parse_config(make_text(device={"model": '"lhv"'}), PATH).config
    assert isinstance(cfg.device, LhvDevice)
    assert cfg.device.noise == 0.0


def test_lhv_device_rejects_quantum_keys() -> None:
    err = config_error(make_text(device={"model": '"lhv"', "visibility": "0.9"}))
    assert_names(err, "device.visibility")
    assert "unknown key" in str(err)


def test_quantum_device_requires_visibility() -> None:
    err = config_error(make_text(device={"model": '"quantum"'}))
    assert_names(err, "device.visibility")


@pytest.mark.parametrize("model", ['"classical"', '"QUANTUM"', "1"])
def test_unknown_device_model(model: str) -> None:
    err = config_error(make_text(device={"model": model, "visibility": "0.9"}))
    assert_names(err, "device")


def test_device_without_model_is_an_error() -> None:
    err = config_error(make_text(device={"model": None}))
    assert_names(err, "device")


def test_adaptive_protocol() -> None:
    text = make_text(protocol={"mode": '"adaptive"', "s_mu_max": '"0.01"', "bins": "16"})
    protocol = parse_config(text, PATH).config.protocol
    assert isinstance(protocol, AdaptiveProtocol)
    assert protocol.s_mu_max == Fraction(1, 100)
    assert protocol.bins == 16
    assert protocol.eps == 1e-12


@pytest.mark.parametrize("missing", ["s_mu_max", "bins"])
def test_adaptive_protocol_required_keys(missing: str) -> None:
    keys = {"mode": '"adaptive"', "s_mu_max": '"0.01"', "bins": "16"}
    keys[missing] = None  # type: ignore[assignment]
    err = config_error(make_text(protocol=keys))
    assert_names(err, f"protocol.{missing}")


def test_adaptive_protocol_rejects_fixed_keys() -> None:
    text = make_text(
        protocol={
            "mode": '"adaptive"',
            "s_mu_max": '"0.01"',
            "bins": "16",
            "s_mu_threshold": '"0.001"',
        }
    )
    err = config_error(text)
    assert_names(err, "protocol.s_mu_threshold")
    assert "unknown key" in str(err)


def test_fixed_protocol_requires_threshold() -> None:
    err = config_error(make_text(protocol={"mode": '"fixed"'}))
    assert_names(err, "protocol.s_mu_threshold")


@pytest.mark.parametrize(
    ("protocol", "key"),
    [
        ({"mode": '"fixed"', "s_mu_threshold": '"0"'}, "s_mu_threshold"),
        ({"mode": '"fixed"', "s_mu_threshold": '"-0.001"'}, "s_mu_threshold"),
        ({"mode": '"adaptive"', "s_mu_max": '"0"', "bins": "4"}, "s_mu_max"),
        ({"mode": '"adaptive"', "s_mu_max": '"0.01"', "bins": "0"}, "protocol.bins"),
        ({"mode": '"fixed"', "s_mu_threshold": '"0.001"', "bound": '"loose"'}, "protocol.bound"),
        ({"mode": '"sometimes"', "s_mu_threshold": '"0.001"'}, "protocol"),
    ],
)
def test_protocol_values(protocol: dict[str, str | None], key: str) -> None:
    err = config_error(make_text(protocol=protocol))
    assert key in str(err)


# --------------------------------------------------------------------------- unknown keys


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (make_text(top="schema_version = 1\ncolour = 3"), "colour"),
        (make_text(run={"speed": "3"}), "run.speed"),
        (make_text(sources={"nu": "0.1"}), "sources.nu"),
        (
            make_text(sources={"alice": '{ model = "iid", bias = 0.001, memory = 2 }'}),
            "sources.alice.memory",
        ),
        (make_text(device={"phase": "0.1"}), "device.phase"),
        (make_text(protocol={"epsilon": "0.1"}), "protocol.epsilon"),
        (make_text(extractor={"verify": "3"}), "extractor.verify"),
        (make_text() + "\n[timing]\nbudget = 1\n", "timing"),
    ],
)
def test_unknown_keys_are_named(text: str, key: str) -> None:
    err = config_error(text)
    assert_names(err, key)
    assert "unknown key" in str(err)


# --------------------------------------------------------------------------- out-of-range values


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"device": {"visibility": "1.5"}}, "visibility"),
        ({"device": {"visibility": "-0.1"}}, "visibility"),
        ({"device": {"readout_fidelity": "0.3"}}, "readout_fidelity"),
        ({"device": {"readout_fidelity": "1.2"}}, "readout_fidelity"),
        ({"device": {"readout_fidelity": "[0.9, 0.3]"}}, "readout_fidelity"),
        ({"device": {"model": '"lhv"', "noise": "1.5"}}, "device.noise"),
        ({"run": {"blocks": "0"}}, "run.blocks"),
        ({"run": {"trials_per_block": "0"}}, "run.trials_per_block"),
        ({"run": {"seed": "-1"}}, "run.seed"),
        ({"run": {"name": '"a b"'}}, "run.name"),
        ({"protocol": {"eps": "0"}}, "protocol.eps"),
        ({"protocol": {"eps": "1"}}, "protocol.eps"),
        ({"protocol": {"eps": "1.5"}}, "protocol.eps"),
        ({"protocol": {"eps": "-1e-12"}}, "protocol.eps"),
        ({"extractor": {"verify_bits": "-1"}}, "extractor.verify_bits"),
        ({"sources": {"z_source": '"carol"'}}, "sources.z_source"),
        ({"sources": {"alice": '{ model = "gauss" }'}}, "sources.alice.model"),
    ],
)
def test_out_of_range_values_are_named(overrides: dict[str, dict[str, str]], key: str) -> None:
    err = config_error(make_text(**overrides))
    assert key in str(err), str(err)


def test_visibility_error_names_dotted_key() -> None:
    err = config_error(make_text(device={"visibility": "1.5"}))
    assert_names(err, "device.visibility")


@pytest.mark.parametrize("who", ["alice", "bob"])
@pytest.mark.parametrize("bias", ["0.0076", "-0.0076", "0.2"])
def test_bias_beyond_mu(who: str, bias: str) -> None:
    err = config_error(make_text(sources={who: f'{{ model = "markov", bias = {bias} }}'}))
    assert f"{who}.bias" in str(err)
    assert "sources" in str(err)


@pytest.mark.parametrize("mu", ['"0.5"', "0.5", '"0.75"', '"1/2"', '"-0.001"', "-0.001"])
def test_mu_out_of_range(mu: str) -> None:
    err = config_error(make_text(sources={"mu": mu, "alice": None, "bob": None}))
    assert "mu" in str(err)


@pytest.mark.parametrize("mu", ['"abc"', "true", '"1/0"', "nan", "inf"])
def test_mu_not_a_number(mu: str) -> None:
    err = config_error(make_text(sources={"mu": mu}))
    assert "mu" in str(err)


def test_mu_just_below_half_is_accepted() -> None:
    text = make_text(
        sources={"mu": '"0.4999"', "alice": None, "bob": None},
        protocol={"mode": '"fixed"', "s_mu_threshold": '"1e-12"'},  # S_mu^Q ~ 2e-9 here
    )
    assert parse_config(text, PATH).config.sources.mu == Fraction(4999, 10000)


@pytest.mark.parametrize(
    ("protocol", "key"),
    [
        ({"mode": '"fixed"', "s_mu_threshold": '"0.0129384"'}, "protocol.s_mu_threshold"),
        ({"mode": '"adaptive"', "s_mu_max": '"0.02"', "bins": "10"}, "protocol.s_mu_max"),
    ],
)
def test_threshold_at_or_above_the_quantum_maximum_is_refused(
    protocol: dict[str, str], key: str
) -> None:
    # S_mu^Q = (2*sqrt(2) - 2) * mu_min * mu_max / 4 = 0.01293835 at mu = 0.0075
    err = config_error(make_text(protocol=protocol))
    assert key in str(err) and "quantum maximum" in str(err)


def test_threshold_just_below_the_quantum_maximum_is_accepted() -> None:
    text = make_text(protocol={"mode": '"fixed"', "s_mu_threshold": '"0.0129383"'})
    assert parse_config(text, PATH).config.protocol.s_mu_threshold == Fraction("0.0129383")


# --------------------------------------------------------------------------- schema, TOML, sections


@pytest.mark.parametrize(
    "top", ["schema_version = 2", "schema_version = 0", 'schema_version = "1"', ""]
)
def test_wrong_or_missing_schema_version(top: str) -> None:
    err = config_error(make_text(top=top))
    assert "schema_version" in str(err)
    assert err.key == "schema_version"


@pytest.mark.parametrize("top", ["schema_version = true", "schema_version = 1.0"])
def test_schema_version_must_be_the_integer_one(top: str) -> None:
    # TOML distinguishes booleans and floats from integers; the version is the integer 1.
    err = config_error(make_text(top=top))
    assert "schema_version" in str(err)


@pytest.mark.parametrize(
    "text",
    [
        "schema_version = 1\n[run\nseed = 1\n",
        "schema_version = 1\nschema_version = 1\n",
        "schema_version = = 1",
        make_text() + "\n[run]\nseed = 2\n",
    ],
)
def test_invalid_toml(text: str) -> None:
    err = config_error(text)
    assert "TOML" in str(err)


@pytest.mark.parametrize("section", ["run", "sources", "device", "protocol"])
def test_missing_required_section(section: str) -> None:
    err = config_error(make_text(drop=(section,)))
    assert_names(err, section)


@pytest.mark.parametrize(
    ("section", "key"),
    [("run", "seed"), ("run", "blocks"), ("run", "trials_per_block"), ("sources", "mu")],
)
def test_missing_required_key(section: str, key: str) -> None:
    err = config_error(make_text(**{section: {key: None}}))
    assert_names(err, f"{section}.{key}")


def test_every_bad_key_is_reported() -> None:
    text = make_text(run={"blocks": "0"}, device={"visibility": "1.5"})
    err = config_error(text)
    assert_names(err, "run.blocks")
    assert_names(err, "device.visibility")


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.toml")
    assert "absent.toml" in str(info.value)


def test_every_repository_config_parses() -> None:
    root = Path(__file__).resolve().parents[1] / "configs"
    names = sorted(p.name for p in root.glob("*.toml"))
    assert {"simulated.toml", "simulated-readout.toml", "eth-2024.toml"} <= set(names)
    for name in names:
        if name == "service.toml":  # the randomness service's config, not a run config
            from diamp.service.settings import load_settings

            load_settings(root / name)
            continue
        load_config(root / name)


# --------------------------------------------------------------------------- origin statements

QRNG_A = {"type": "qrng", "address": "qrngsim://?seed=1", "node": "A"}
QRNG_B = {"type": "qrng", "address": "qrngsim://?seed=2", "node": "B"}
AWG_A = sim_instrument("awg5014", "A")
READOUTS = {
    "qa-a": {"type": "uhfqa", "backend": "sim", "address": "dev2345", "node": "A"},
    "qa-b": {"type": "uhfqa", "backend": "sim", "address": "dev2346", "node": "B"},
}
ORIGINS = ("inputs", "z", "outcomes")
UNSTATED = dict.fromkeys(ORIGINS)  # removes the three statements of the base


def origin_text(instruments: dict[str, Any], **sources: str | None) -> str:
    """UNIT with ``instruments`` and ``sources`` overrides (None removes a statement)."""
    return run_config(UNIT, sources=sources, instruments=instruments)


@pytest.mark.parametrize("key", ORIGINS)
def test_instruments_need_every_origin_stated(key: str) -> None:
    err = config_error(origin_text({"awg-a": AWG_A}, **{key: None}))
    assert_names(err, f"sources.{key}")
    assert "missing" in str(err) and "[instruments.*]" in str(err)
    for other in set(ORIGINS) - {key}:
        assert f"sources.{other}" not in str(err), str(err)


def test_every_missing_origin_is_named() -> None:
    err = config_error(origin_text({"awg-a": AWG_A}, **UNSTATED))
    for key in ORIGINS:
        assert_names(err, f"sources.{key}")


def test_missing_origin_through_the_cli_exits_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from diamp.cli import app

    config = write_config(tmp_path, origin_text({"awg-a": AWG_A}, inputs=None))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = "".join(result.output.split())  # rich wraps long lines
    assert "sources.inputs" in text and "".join(str(config).split()) in text, result.output
    assert not (out / "trials.h5").exists()


@pytest.mark.parametrize(
    ("instruments", "sources"),
    [
        ({"qrng-a": QRNG_A}, {}),  # inputs and Z simulated: nothing reads it
        ({"qrng-a": QRNG_A, "qrng-b": QRNG_B}, {"z": "instruments", "z_source": "bob"}),
        ({"qrng-a": {**QRNG_A, "node": "C"}}, {}),
    ],
    ids=["all-simulated", "z-from-the-other-node", "node-c"],
)
def test_a_qrng_nothing_reads_is_refused(
    instruments: dict[str, Any], sources: dict[str, str]
) -> None:
    err = config_error(origin_text(instruments, **sources))
    assert_names(err, "instruments.qrng-a")
    assert "a QRNG nothing reads" in str(err)


def test_qrngs_read_for_inputs_and_z_are_accepted() -> None:
    both = {"qrng-a": QRNG_A, "qrng-b": QRNG_B}
    cfg = parse_config(origin_text(both, inputs="instruments", z="instruments"), PATH).config
    assert (cfg.sources.inputs, cfg.sources.z, cfg.sources.z_node) == ("instruments",) * 2 + ("B",)
    cfg = parse_config(origin_text({"qrng-a": QRNG_A}, z="instruments", z_source="alice"), PATH)
    assert cfg.config.sources.z == "instruments" and cfg.config.sources.inputs == "simulated"


def test_a_readout_with_simulated_outcomes_is_refused() -> None:
    err = config_error(origin_text(READOUTS))
    assert_names(err, "instruments.qa-a")
    assert "sources.outcomes = 'simulated' would ignore what it reads" in str(err)
    cfg = parse_config(origin_text(READOUTS, outcomes="instruments"), PATH).config
    assert cfg.sources.outcomes == "instruments"


@pytest.mark.parametrize(
    ("instruments", "sources", "needle"),
    [
        ({"qrng-a": QRNG_A}, {"inputs": "instruments", "z": "instruments"}, "at node B"),
        ({"qrng-a": QRNG_A}, {"z": "instruments"}, "sources.z = 'instruments' needs"),  # bob
        ({"awg-a": AWG_A}, {"outcomes": "instruments"}, "needs the qubit readouts"),
    ],
    ids=["inputs", "z", "outcomes"],
)
def test_instruments_origin_needs_its_instruments(
    instruments: dict[str, Any], sources: dict[str, str], needle: str
) -> None:
    err = config_error(origin_text(instruments, **sources))
    assert needle in str(err), str(err)


def test_eth_2024_takes_every_part_from_instruments() -> None:
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "eth-2024.toml").config
    src = cfg.sources
    assert (src.inputs, src.z, src.outcomes) == ("instruments", "instruments", "instruments")
    qrngs = {i.node for i in cfg.instruments.values() if i.type == "qrng"}
    assert qrngs == {"A", "B"}
    assert src.z_node == "A"


def test_without_instruments_every_origin_defaults_to_simulated() -> None:
    text = origin_text({}, **UNSTATED)
    assert "inputs" not in text and "outcomes" not in text
    src = parse_config(text, PATH).config.sources
    assert (src.inputs, src.z, src.outcomes) == ("simulated", "simulated", "simulated")


@pytest.mark.parametrize(
    ("instruments", "sources", "expected"),
    [
        # a station without QRNGs or readouts: everything was simulated
        ({"awg-a": AWG_A}, {}, ("simulated", "simulated", "simulated")),
        # readouts gave the outcomes
        (READOUTS, {}, ("simulated", "simulated", "instruments")),
        # inputs = "instruments" took Z from the QRNG too
        (
            {"qrng-a": QRNG_A, "qrng-b": QRNG_B},
            {"inputs": "instruments"},
            ("instruments", "instruments", "simulated"),
        ),
        # a QRNG that nothing read was only opened and snapshotted
        ({"qrng-a": {**QRNG_A, "node": "C"}}, {}, ("simulated", "simulated", "simulated")),
    ],
    ids=["station", "readouts", "qrng-inputs", "unread-qrng"],
)
def test_stored_config_gets_the_legacy_rules(
    instruments: dict[str, Any], sources: dict[str, str], expected: tuple[str, str, str]
) -> None:
    """A store written before the statements existed is read back, not refused."""
    text = origin_text(instruments, **{**UNSTATED, **sources})
    with pytest.raises(ConfigError, match=r"sources\.(inputs|z|outcomes): missing"):
        parse_config(text, PATH)  # a new run must state them
    src = parse_config(text, PATH, stored=True).config.sources
    assert (src.inputs, src.z, src.outcomes) == expected


@pytest.mark.parametrize("stored", [False, True])
def test_instruments_that_are_not_a_table_are_named(stored: bool) -> None:
    text = run_config(top="schema_version = 1\ninstruments = 3", sources={"inputs": None})
    with pytest.raises(ConfigError, match="instruments"):
        parse_config(text, "bad.toml", stored=stored)
