"""Configuration: file + environment, ${ENV} secrets, errors that name file, key and problem."""

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

VALID = """
zalo:
  apps:
    - {app_id: "111", app_secret: "${APP_SECRET}"}
communes:
  - code: "02839"
    name: Xã Bắc Hà
    office_hours: [{days: mon-fri, open: "07:30", close: "11:30"}]
    address: UBND xã
    phone: "0214 1"
    villages: [Nậm Mòn, {name: Bản Phố, kind: bản}]
    zalo: {oa_id: 1234567890123456789, app_id: "111", oa_secret_key: "${OA_SECRET}"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file_with_env_secrets_and_overrides(tmp_path):
    env = {
        "APP_SECRET": "s3cret",
        "OA_SECRET": "oasecret",
        "BOT_PORT": "9001",
        "BOT_DATABASE_URL": "sqlite+aiosqlite:///x.db",
        "BOT_ZALO_API_BASE": "http://sim",
    }
    s = load_settings(write(tmp_path, VALID), env=env)
    assert s.zalo.apps[0].app_secret == "s3cret"
    commune = s.communes[0]
    assert commune.zalo.oa_secret_key == "oasecret"
    assert commune.zalo.oa_id == "1234567890123456789"  # unquoted YAML int kept as text
    assert [v.kind for v in commune.villages] == ["thôn", "bản"]
    assert s.service.port == 9001 and s.database_url == "sqlite+aiosqlite:///x.db"
    assert s.zalo.api_base == "http://sim" and s.redis_url is None


def test_missing_env_var_names_file_and_key(tmp_path):
    path = write(tmp_path, VALID)
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={"APP_SECRET": "x"})
    assert str(path) in str(err.value)
    assert "communes.0.zalo.oa_secret_key" in str(err.value)
    assert "OA_SECRET" in str(err.value)


@pytest.mark.parametrize(
    "mutation, key, words",
    [
        (('code: "02839"', 'code: "2839x"'), "communes.0.code", "pattern"),
        (
            ('close: "11:30"', 'close: "06:00"'),
            "communes.0.office_hours.0",
            "close must be after open",
        ),
        (("days: mon-fri", "days: mon-fry"), "communes.0.office_hours.0.days", "unknown day"),
        (
            ('app_id: "111", oa_secret_key', 'app_id: "222", oa_secret_key'),
            "communes.0.zalo.app_id",
            "not listed",
        ),
        (('    phone: "0214 1"\n', ""), "communes.0.phone", "Field required"),
        (("communes:", "communes:\n  - nonsense: 1\ncommunez:"), "communes.0", ""),
        # YAML 1.1 traps: unquoted 00010 is octal 8, unquoted 13:30 is the number 810
        (('code: "02839"', "code: 00010"), "communes.0.code", "in quotes"),
        (('close: "11:30"', "close: 11:30"), "communes.0.office_hours.0.close", "in quotes"),
        # feedback routing: offices, categories and villages must exist
        (
            ("    villages:", "    routing: [{category: road, office: diachinh}]\n    villages:"),
            "communes.0",
            "routing.0.office: diachinh is not one of the commune's offices",
        ),
        (
            (
                "    villages:",
                "    routing: [{category: weather, office: vanphong}]\n    villages:",
            ),
            "communes.0",
            "routing.0.category",
        ),
        (
            (
                "    villages:",
                "    routing: [{villages: [Nà Lốc], office: vanphong}]\n    villages:",
            ),
            "communes.0",
            "not villages of the commune: Nà Lốc",
        ),
        (
            ("communes:", "feedback: {category_days: {road: 0}}\ncommunes:"),
            "feedback.category_days",
            "at least 1",
        ),
    ],
)
def test_invalid_values_are_named(tmp_path, mutation, key, words):
    path = write(tmp_path, VALID.replace(*mutation))
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={"APP_SECRET": "a", "OA_SECRET": "b"})
    message = str(err.value)
    assert str(path) in message and key in message and words in message


def test_duplicate_oa_and_unknown_key(tmp_path):
    doubled = VALID + VALID.split("communes:\n", 1)[1].replace('"02839"', '"02840"')
    with pytest.raises(ConfigError, match="appears twice"):
        load_settings(write(tmp_path, doubled), env={"APP_SECRET": "a", "OA_SECRET": "b"})
    with pytest.raises(ConfigError, match="colour: Extra inputs are not permitted"):
        load_settings(
            write(tmp_path, VALID + "colour: blue\n"), env={"APP_SECRET": "a", "OA_SECRET": "b"}
        )


def test_postgresql_needs_a_shared_secret_key(tmp_path):
    env = {"APP_SECRET": "a", "OA_SECRET": "b", "BOT_DATABASE_URL": "postgresql+asyncpg://u@h/db"}
    with pytest.raises(ConfigError, match="secret_key: required with PostgreSQL"):
        load_settings(write(tmp_path, VALID), env=env)
    assert load_settings(write(tmp_path, VALID), env={**env, "BOT_SECRET_KEY": "k"})


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "communes: [\n"), env={})
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yml", env={})


def test_shipped_config_is_valid():
    settings = load_settings(Path(__file__).parent.parent / "config.yml", env={})
    assert len(settings.communes) >= 3
    assert settings.database_url.startswith("sqlite+aiosqlite:///var/")
