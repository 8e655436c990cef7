"""Settings precedence, the administrator's policy and where credentials come from (config.py), without a hub."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from traitlets.config import Config

from mmchat_jupyter._redact import redact
from mmchat_jupyter._settings import Settings, coerce
from mmchat_jupyter.config import MMChat, load_admin_config
from mmchat_jupyter.errors import ConfigError

ADMIN_KEY = "AQVN-admin-secret-0123456789"
USER_KEY = "sk-user-own-key-9876543210"


def settings(admin: MMChat | None = None, user: dict | None = None, env: dict | None = None) -> Settings:
    return Settings(admin or MMChat(), user or {}, env or {})


def write(directory: Path, text: str, name: str = "ipython_config.py") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_running_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other tests may leave an InteractiveShell instance behind; these read config files, not its config."""
    monkeypatch.setattr("IPython.get_ipython", lambda: None)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """An administrator's system-wide config dir and a user's profile dir, both empty."""
    return tmp_path / "etc-ipython", tmp_path / "profile_default"


def load(dirs: tuple[Path, Path], running: Config | None = None) -> MMChat:
    admin_dir, profile = dirs
    return load_admin_config(running, admin_dirs=[str(admin_dir)], profile_dir=str(profile))


# -- precedence --------------------------------------------------------------------------------------------------


def test_each_layer_wins_over_the_ones_below() -> None:
    admin = MMChat(default_model="admin-model", temperature=0.5)
    env = {"MMCHAT_MODEL": "env-model", "MMCHAT_TEMPERATURE": "0.7", "MMCHAT_MAX_TOKENS": "77"}
    s = settings(admin, {"model": "saved-model"}, env)
    assert s.get("model", "call-model") == "call-model"
    assert s.get("model") == "saved-model"
    assert settings(admin, {}, env).get("model") == "admin-model"
    assert settings(MMChat(), {}, env).get("model") == "env-model"
    assert s.get("temperature") == 0.5
    assert s.get("max_tokens") == 77  # the environment's text is coerced
    assert settings().get("model") == "echo-1"  # the default provider's default model


def test_default_provider_is_echo_without_credentials_and_the_configured_one_with() -> None:
    assert settings().get("provider") == "echo"
    assert settings(env={"GIGACHAT_CREDENTIALS": "x" * 20}).get("provider") == "gigachat"
    central = MMChat(provider_settings={"yandexgpt": {"api_key": ADMIN_KEY, "folder_id": "b1g"}})
    assert settings(central).get("provider") == "yandexgpt"


def test_default_provider_respects_the_allow_list() -> None:
    admin = MMChat(allowed_providers=["openai"])
    env = {"YANDEX_API_KEY": "k" * 20}
    assert settings(admin, env=env).get("provider") == "openai"  # not yandexgpt, not echo
    assert settings(MMChat(allowed_providers=["gigachat", "echo"]), env=env).get("provider") == "echo"


# -- locks -------------------------------------------------------------------------------------------------------


def test_a_locked_setting_takes_the_admins_value_over_saved_and_call_values() -> None:
    admin = MMChat(default_provider="yandexgpt", locked=["provider"])
    s = settings(admin, {"provider": "echo"})
    assert s.get("provider") == "yandexgpt"
    assert s.get("provider", "yandexgpt") == "yandexgpt"  # asking for the locked value itself is fine
    with pytest.raises(ConfigError) as error:
        s.get("provider", "echo")
    message = str(error.value)
    assert message == "provider is set by your administrator and cannot be changed here."
    assert "\n" not in message


def test_changing_a_locked_setting_is_a_one_line_error() -> None:
    s = settings(MMChat(temperature=0.2, locked=["temperature"]))
    with pytest.raises(ConfigError, match=r"^temperature is set by your administrator") as error:
        s.check("temperature", "0.9")
    assert len(str(error.value).splitlines()) == 1


def test_a_key_locked_without_an_admin_value_falls_to_the_environment_then_the_default() -> None:
    admin = MMChat(locked=["model", "provider"])
    assert settings(admin, {"model": "mine"}, {"MMCHAT_MODEL": "spawner-model"}).get("model") == "spawner-model"
    assert settings(admin, {"model": "mine", "provider": "openai"}).get("model") == "echo-1"
    assert settings(admin, {"provider": "openai"}).get("provider") == "echo"
    with pytest.raises(ConfigError):
        settings(admin).get("model", "mine")


def test_unknown_settings_and_bad_values_are_refused() -> None:
    s = settings()
    with pytest.raises(ConfigError, match="Unknown setting 'colour'"):
        s.check("colour", "red")
    with pytest.raises(ConfigError, match="temperature must be a number from 0 to 2"):
        s.check("temperature", "hot")
    assert coerce("max_tokens", "12") == 12
    with pytest.raises(ConfigError):
        coerce("max_tokens", "0")


# -- allow lists and the ceiling ---------------------------------------------------------------------------------


def test_allowed_providers_and_models() -> None:
    s = settings(MMChat(allowed_providers=["yandexgpt"], allowed_models={"yandexgpt": ["yandexgpt-lite"]}))
    s.check_provider("yandexgpt", "yandexgpt-lite")
    with pytest.raises(ConfigError, match="Provider 'echo' is not allowed here: use one of yandexgpt"):
        s.check_provider("echo")
    with pytest.raises(ConfigError, match="Model 'yandexgpt' is not allowed for yandexgpt"):
        s.check_provider("yandexgpt", "yandexgpt")
    with pytest.raises(ConfigError, match="not allowed"):
        s.check("provider", "gigachat")


def test_max_tokens_ceiling() -> None:
    s = settings(MMChat(max_tokens_ceiling=500))
    assert s.cap_max_tokens(None) == 500
    assert s.cap_max_tokens(100) == 100
    with pytest.raises(ConfigError, match="max_tokens 501 is above the limit of 500"):
        s.cap_max_tokens(501)
    with pytest.raises(ConfigError, match="above the limit"):
        s.check("max_tokens", "9000")
    assert settings().cap_max_tokens(None) is None


# -- provider settings and credentials ---------------------------------------------------------------------------


def test_provider_settings_layer_user_over_admin_and_drop_saved_secrets() -> None:
    admin = MMChat(
        provider_settings={"yandexgpt": {"api_key": ADMIN_KEY, "folder_id": "admin-folder", "base_url": "http://a"}},
        user_provider_settings={"yandexgpt": {"folder_id": "profile-folder", "read_timeout": 30}},
    )
    saved = {"providers": {"yandexgpt": {"read_timeout": 90, "api_key": "saved-secret"}}}
    merged = settings(admin, saved).provider_settings("yandexgpt")
    assert merged == {"api_key": ADMIN_KEY, "folder_id": "profile-folder", "base_url": "http://a", "read_timeout": 90}


#: Saved settings that would send the key to another server, or vouch for one with other certificates.
REDIRECT = {"base_url": "http://attacker.example/v1", "auth_url": "http://attacker.example/oauth",
            "ca_bundle_file": "/tmp/attacker-ca.pem", "verify_ssl_certs": False, "verify": False}


@pytest.mark.parametrize(("admin", "env", "where"), [
    (MMChat(provider_settings={"gigachat": {"credentials": ADMIN_KEY}}), {}, "administrator configuration"),
    (MMChat(), {"GIGACHAT_CREDENTIALS": ADMIN_KEY}, "environment (GIGACHAT_CREDENTIALS)"),
])
def test_saved_settings_never_redirect_a_key_from_the_administrator_or_the_environment(admin, env, where) -> None:
    s = settings(admin, {"providers": {"gigachat": {**REDIRECT, "scope": "GIGACHAT_API_CORP"}}}, env)
    merged = s.provider_settings("gigachat")
    assert not set(merged) & set(REDIRECT) and merged["scope"] == "GIGACHAT_API_CORP"  # the rest still applies
    s.provider_settings("gigachat")
    [notice] = s.notices()  # said once
    assert notice == (
        "Your saved settings: providers.gigachat.{auth_url, base_url, ca_bundle_file, verify, verify_ssl_certs} "
        f"ignored: the key comes from {where}, and a settings file must not send it elsewhere. Fix: set them where "
        "the key is set, or remove them from settings.json in your history folder.")
    assert ADMIN_KEY not in notice


@pytest.mark.parametrize(("admin", "env"), [
    (MMChat(user_provider_settings={"openai": {"api_key": USER_KEY}}), {"OPENAI_API_KEY": ADMIN_KEY}),  # their own
    (MMChat(), {}),  # no key at all: a local server (Ollama, vLLM) given by its address alone
])
def test_saved_settings_may_point_the_users_own_key_or_no_key_anywhere(admin, env) -> None:
    s = settings(admin, {"providers": {"openai": {"base_url": "http://localhost:11434/v1"}}}, env)
    assert s.provider_settings("openai")["base_url"] == "http://localhost:11434/v1"
    assert s.notices() == []


@pytest.mark.parametrize("lock", ["providers", "providers.yandexgpt"])
def test_locked_providers_use_the_admins_settings_only(lock: str) -> None:
    admin = MMChat(
        provider_settings={"yandexgpt": {"api_key": ADMIN_KEY, "base_url": "http://gateway"}},
        user_provider_settings={"yandexgpt": {"api_key": USER_KEY}},
        locked=[lock],
    )
    s = settings(admin, {"providers": {"yandexgpt": {"base_url": "http://elsewhere"}}})
    assert s.provider_settings("yandexgpt") == {"api_key": ADMIN_KEY, "base_url": "http://gateway"}
    assert s.credential_source("yandexgpt", ("YANDEX_API_KEY",)) == "administrator configuration, locked"


def test_credential_source_names_the_origin_never_the_value() -> None:
    env_vars = ("YANDEX_API_KEY", "YANDEX_IAM_TOKEN")
    env = {"YANDEX_API_KEY": ADMIN_KEY}
    cases = [
        (settings(env=env), "environment (YANDEX_API_KEY)"),
        (settings(MMChat(provider_settings={"yandexgpt": {"api_key": ADMIN_KEY}}), env=env),
         "administrator configuration"),
        (settings(MMChat(user_provider_settings={"yandexgpt": {"api_key": USER_KEY}}), env=env),
         "your IPython configuration"),
        (settings(MMChat(provider_settings={"yandexgpt": {"folder_id": "b1g"}})), "not configured"),
    ]
    for s, expected in cases:
        source = s.credential_source("yandexgpt", env_vars)
        assert source == expected
        for shown in (source, repr(s), repr(s.admin)):
            assert ADMIN_KEY not in shown and USER_KEY not in shown


# -- reading configuration files ---------------------------------------------------------------------------------


def test_admin_files_are_read_without_a_running_ipython(dirs: tuple[Path, Path]) -> None:
    write(dirs[0], f"""
        c.MMChat.default_provider = "yandexgpt"
        c.MMChat.provider_settings = {{"yandexgpt": {{"api_key": "{ADMIN_KEY}", "folder_id": "b1g"}}}}
        """)
    write(dirs[0], '{"MMChat": {"max_tokens_ceiling": 300}}', "ipython_kernel_config.json")
    config = load(dirs)
    assert config.default_provider == "yandexgpt"
    assert config.max_tokens_ceiling == 300
    assert config.user_provider_settings == {}
    assert settings(config).credential_source("yandexgpt", ()) == "administrator configuration"
    # Known to the redactor before any provider exists, so no message can quote it.
    assert redact(f"config says {ADMIN_KEY}") == "config says ***"


def test_a_users_profile_cannot_loosen_the_admins_policy(dirs: tuple[Path, Path]) -> None:
    write(dirs[0], """
        c.MMChat.default_provider = "yandexgpt"
        c.MMChat.default_model = "yandexgpt-lite"
        c.MMChat.locked = ["provider", "model"]
        c.MMChat.allowed_providers = ["yandexgpt"]
        c.MMChat.max_tokens_ceiling = 400
        """)
    write(dirs[1], """
        c.MMChat.locked = []
        c.MMChat.allowed_providers = []
        c.MMChat.max_tokens_ceiling = 100000
        c.MMChat.default_provider = "echo"
        c.MMChat.default_model = "echo-1"
        c.MMChat.temperature = 0.9
        c.MMChat.system = "Be brief."
        """)
    config = load(dirs)
    assert config.locked == ["provider", "model"]
    assert config.allowed_providers == ["yandexgpt"]
    assert config.max_tokens_ceiling == 400
    assert (config.default_provider, config.default_model) == ("yandexgpt", "yandexgpt-lite")
    # What the administrator did not lock stays the user's own choice.
    assert (config.temperature, config.system) == (0.9, "Be brief.")


def test_a_users_profile_may_add_restrictions_and_defaults(dirs: tuple[Path, Path]) -> None:
    write(dirs[1], 'c.MMChat.locked = ["model"]\nc.MMChat.default_model = "mine"\n')
    config = load(dirs)
    assert config.locked == ["model"]
    assert config.default_model == "mine"


def test_the_running_config_is_split_into_admin_and_user_provider_settings(dirs: tuple[Path, Path]) -> None:
    write(dirs[0], f'c.MMChat.provider_settings = {{"yandexgpt": {{"api_key": "{ADMIN_KEY}", "folder_id": "b"}}}}\n')
    write(dirs[1], f'c.MMChat.provider_settings.update({{"openai": {{"api_key": "{USER_KEY}"}}}})\n')
    # What IPython itself hands a kernel: the system file merged with the profile, the profile last.
    running = Config()
    for path in (dirs[0], dirs[1]):
        from traitlets.config.loader import PyFileConfigLoader

        running.merge(PyFileConfigLoader("ipython_config.py", path=str(path)).load_config())
    config = load(dirs, running)
    assert config.provider_settings == {"yandexgpt": {"api_key": ADMIN_KEY, "folder_id": "b"}}
    assert config.user_provider_settings == {"openai": {"api_key": USER_KEY}}
    s = settings(config)
    assert s.credential_source("openai", ("OPENAI_API_KEY",)) == "your IPython configuration"
    assert s.credential_source("yandexgpt", ("YANDEX_API_KEY",)) == "administrator configuration"


def test_a_users_own_key_beats_the_central_one_unless_locked(dirs: tuple[Path, Path]) -> None:
    write(dirs[0], f'c.MMChat.provider_settings = {{"yandexgpt": {{"api_key": "{ADMIN_KEY}"}}}}\n')
    write(dirs[1], f'c.MMChat.provider_settings = {{"yandexgpt": {{"api_key": "{USER_KEY}"}}}}\n')
    assert settings(load(dirs)).provider_settings("yandexgpt") == {"api_key": USER_KEY}
    write(dirs[0], 'c.MMChat.locked = ["providers"]\n', "ipython_kernel_config.py")
    assert settings(load(dirs)).provider_settings("yandexgpt") == {"api_key": ADMIN_KEY}


def test_a_broken_admin_file_is_a_config_error_naming_it(dirs: tuple[Path, Path]) -> None:
    path = write(dirs[0], "c.MMChat.locked = [\n")
    with pytest.raises(ConfigError, match=f"Cannot read {path}"):
        load(dirs)


def test_a_broken_user_profile_is_skipped(dirs: tuple[Path, Path]) -> None:
    write(dirs[0], 'c.MMChat.default_provider = "echo"\n')
    write(dirs[1], "this is not python(\n")
    assert load(dirs).default_provider == "echo"


def test_a_knob_of_the_wrong_type_is_a_config_error(dirs: tuple[Path, Path]) -> None:
    write(dirs[0], 'c.MMChat.allowed_models = {"yandexgpt": "yandexgpt-lite"}\n')
    with pytest.raises(ConfigError, match=r"Invalid c\.MMChat configuration"):
        load(dirs)


def test_an_unknown_lock_name_is_warned_about(dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    write(dirs[0], 'c.MMChat.locked = ["provder"]\n')
    with caplog.at_level("WARNING", logger="mmchat_jupyter.config"):
        load(dirs)
    assert "'provder' is not a setting" in caplog.text


def test_the_running_ipythons_config_is_used_inside_a_kernel(dirs: tuple[Path, Path], monkeypatch) -> None:
    class Shell:
        config = Config({"MMChat": {"default_model": "from-the-shell"}})
        profile_dir = type("ProfileDir", (), {"location": str(dirs[1])})()

    monkeypatch.setattr("IPython.get_ipython", Shell)
    assert load_admin_config(admin_dirs=[str(dirs[0])]).default_model == "from-the-shell"
