"""The account model (statemachine.accounts): names and paths where credentials belong, never values;
a masked number, never a full one; every refusal names its field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from statemachine.accounts import Account, Credentials, looks_like_secret, make_account, mask_account_number
from statemachine.errors import AccountError
from statemachine.models import Thresholds

ENV = {"appkey_env": "ISA_KIS_APPKEY", "appsecret_env": "ISA_KIS_APPSECRET", "account_env": "ISA_KIS_ACCOUNT"}
# shaped like real KIS values (made up): a 36-character app key, a long secret, an account number
FAKE_APPKEY = "PSg5dTKNWmXiYzQ3vJbPLcRaHfE8oU1nDkA2"
FAKE_SECRET = "k9Tq2/Lx+Wm4Zr8Yv1Bn6Hc3Jd5Fg7Ks0Pa" * 5 + "=="


def test_a_kis_account_with_variable_names_is_valid():
    a = make_account(alias="isa", broker="kis-paper", masked_number="1234****-01", credentials=ENV,
                     portfolio="growth", thresholds={"mp": 2.5, "sub_mp": 4}, schedule_cron="0 10  * * 1-5")
    assert a.credentials.kind == "env" and a.thresholds == Thresholds(mp=2.5, sub_mp=4.0)
    assert a.schedule_cron == "0 10 * * 1-5" and a.enabled
    assert "ISA_KIS_APPKEY" in a.credentials.describe()


@pytest.mark.parametrize("field,value", [
    ("appkey_env", FAKE_APPKEY), ("appsecret_env", FAKE_SECRET), ("account_env", "50001234-01"),
    ("account_env", "5000123401"), ("appkey_env", "PSG5DTKNWMXIYZQ3VJBP"), ("appkey_env", "lower_case"),
])
def test_a_value_where_a_variable_name_belongs_is_refused(field, value):
    with pytest.raises(AccountError) as err:
        make_account(alias="isa", broker="kis-real", credentials={**ENV, field: value})
    assert err.value.fields["field"] == field
    assert value not in err.value.message  # the refusal does not echo the secret


@pytest.mark.parametrize("path", ["/etc/kis/isa.json", "~/.config/kis/pension.json", "./creds/general.json"])
def test_a_credentials_file_path_is_valid(path):
    assert Credentials(file=path).kind == "file"


@pytest.mark.parametrize("value", [FAKE_APPKEY, FAKE_SECRET, "/etc/kis/" + FAKE_APPKEY, "isa.json", "a b/c"])
def test_a_secret_or_a_bare_name_where_a_path_belongs_is_refused(value):
    with pytest.raises(AccountError) as err:
        Credentials(file=value)
    assert err.value.fields["field"] == "credentials_file" and FAKE_APPKEY not in err.value.message


def test_names_and_a_file_together_or_partial_names_are_refused():
    with pytest.raises(AccountError, match="not both"):
        Credentials(**ENV, file="/etc/kis/isa.json")
    with pytest.raises(AccountError, match="three names"):
        Credentials(appkey_env="A_KEY")


def test_a_kis_account_needs_a_credentials_source_the_simulators_do_not():
    with pytest.raises(AccountError) as err:
        make_account(alias="isa", broker="kis-real")
    assert err.value.fields["field"] == "credentials"
    assert make_account(alias="sim1", broker="sim").credentials.kind == "none"
    assert make_account(alias="sim2", broker="kis-sim").broker == "kis-sim"


@pytest.mark.parametrize("number", ["50001234-01", "5000123401"])
def test_a_full_account_number_is_refused_and_masking_hides_the_middle(number):
    with pytest.raises(AccountError) as err:
        make_account(alias="isa", masked_number=number)
    assert err.value.fields["field"] == "masked_number" and number not in err.value.message
    assert mask_account_number(number) == "5000****-01"
    with pytest.raises(AccountError):
        mask_account_number("1234")


@pytest.mark.parametrize("kw,field", [
    ({"alias": "has space"}, "alias"), ({"alias": ""}, "alias"), ({"alias": "x" * 65}, "alias"),
    ({"alias": "a", "broker": "kis"}, "broker"), ({"alias": "a", "portfolio": "default"}, "portfolio"),
    ({"alias": "a", "schedule_cron": "every day"}, "schedule_cron"),
    ({"alias": "a", "thresholds": {"mp": 120}}, "mp_threshold_percent"),
    ({"alias": "a", "masked_number": "12-34"}, "masked_number"),
])
def test_bad_input_names_its_field(kw, field):
    with pytest.raises(AccountError if field != "mp_threshold_percent" else Exception) as err:
        make_account(**kw)
    assert err.value.fields["field"] == field  # type: ignore[attr-defined]


def test_looks_like_secret_lets_ordinary_names_through():
    for name in ("REBALANCE_KIS_APPKEY", "ISA_KIS_APPSECRET", "PENSION_ACCOUNT_NO", "/home/me/.kis/isa.json"):
        assert not looks_like_secret(name)
    for value in (FAKE_APPKEY, FAKE_SECRET, "50001234-01", "eyJhbGciOiJIUzI1NiJ9"):
        assert looks_like_secret(value)


def test_an_account_is_frozen_and_defaults_to_the_default_portfolio():
    a = Account(alias="demo")
    assert a.portfolio is None and a.thresholds is None and "default" in a.follows
    with pytest.raises(ValidationError):
        a.alias = "x"  # type: ignore[misc]
