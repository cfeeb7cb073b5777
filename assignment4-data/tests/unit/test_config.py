import pytest

from cs336_data.config import load_config
from cs336_data.errors import ConfigError


def test_precedence_defaults_file_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[stages]\nlangid_threshold = 0.7\n[run]\nnum_workers = 3\ninputs = ["a"]\n')
    cfg = load_config(str(path), ["stages.langid_threshold=0.9", "dedup.num_bands=8"], out_dir="o")
    assert cfg.stages.langid_threshold == 0.9
    assert cfg.run.num_workers == 3 and cfg.run.inputs == ["a"] and cfg.run.out_dir == "o"
    assert cfg.dedup.num_bands == 8
    assert load_config().stages.langid_threshold == 0.65


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("stages.nope=1", "unknown key stages.nope"),
        ("nosection.x=1", "unknown config section"),
        ("stages.langid=3", "must be bool"),
        ("stages.langid_threshold=1.5", r"\[0, 1\]"),
        ("dedup.num_bands=7", "multiple"),
        ("run.executor=ray", "executor"),
        ("badformat", "section.key=value"),
    ],
)
def test_bad_values_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])
