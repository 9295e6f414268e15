"""Generated models behave like the official ones, and every body form sends the same bytes."""

from __future__ import annotations

import hashlib
import base64
import json
import pprint

import pytest

from CyberSource import (
    Flexv2sessionsFields,
    Flexv2sessionsFieldsOrderInformation,
    Flexv2sessionsFieldsOrderInformationAmountDetails,
    Flexv2sessionsFieldsOrderInformationAmountDetailsTotalAmount as Leaf,
    Flexv2sessionsFieldsOrderInformationBillTo,
    Flexv2sessionsFieldsOrderInformationShipTo,
    Flexv2sessionsFieldsPaymentInformation,
    Flexv2sessionsFieldsPaymentInformationCard,
    GenerateFlexAPICaptureContextRequest,
)
from flex_ext.body import RequestBodyError, request_body

# compat §4.1: the sample-style user string and the 298-byte body the official SDK sends.
VECTOR_USER_STRING = (
    '{"_fields": {"_order_information": {"_amount_details": {"_total_amount": {"_required": true}, '
    '"_currency": {"_required": true}}}, "_payment_information": {"_card": {"_number": {"_required": true}, '
    '"_security_code": {"_required": false}, "_expiration_month": {"_required": true}, '
    '"_expiration_year": {"_required": true}}}}}'
)
VECTOR_WIRE = (
    b'{"fields": {"orderInformation": {"amountDetails": {"totalAmount": {"required": true}, '
    b'"currency": {"required": true}}}, "paymentInformation": {"card": {"number": {"required": true}, '
    b'"securityCode": {"required": false}, "expirationMonth": {"required": true}, '
    b'"expirationYear": {"required": true}}}}}'
)


def del_none(d):
    """The official samples' helper."""
    for key, value in list(d.items()):
        if value is None:
            del d[key]
        elif isinstance(value, dict):
            del_none(value)
    return d


def vector_model() -> GenerateFlexAPICaptureContextRequest:
    return GenerateFlexAPICaptureContextRequest(
        fields=Flexv2sessionsFields(
            order_information=Flexv2sessionsFieldsOrderInformation(
                amount_details=Flexv2sessionsFieldsOrderInformationAmountDetails(
                    total_amount=Leaf(required=True), currency=Leaf(required=True)
                )
            ),
            payment_information=Flexv2sessionsFieldsPaymentInformation(
                card=Flexv2sessionsFieldsPaymentInformationCard(
                    number=Leaf(required=True),
                    security_code=Leaf(required=False),
                    expiration_month=Leaf(required=True),
                    expiration_year=Leaf(required=True),
                )
            ),
        )
    )


def sample_style_string() -> str:
    """Exactly how the official samples build the body: `.__dict__` at every level."""
    req = GenerateFlexAPICaptureContextRequest(
        fields=Flexv2sessionsFields(
            order_information=Flexv2sessionsFieldsOrderInformation(
                amount_details=Flexv2sessionsFieldsOrderInformationAmountDetails(
                    total_amount=Leaf(required=True).__dict__, currency=Leaf(required=True).__dict__
                ).__dict__
            ).__dict__,
            payment_information=Flexv2sessionsFieldsPaymentInformation(
                card=Flexv2sessionsFieldsPaymentInformationCard(
                    number=Leaf(required=True).__dict__,
                    security_code=Leaf(required=False).__dict__,
                    expiration_month=Leaf(required=True).__dict__,
                    expiration_year=Leaf(required=True).__dict__,
                ).__dict__
            ).__dict__,
        ).__dict__
    )
    return json.dumps(del_none(req.__dict__))


def test_vector_body_is_298_bytes_with_the_documented_digest() -> None:
    assert len(VECTOR_WIRE) == 298
    digest = base64.b64encode(hashlib.sha256(VECTOR_WIRE).digest()).decode()
    assert digest == "1USYJJV+MJTzNMfyXIPiOtNslf9VUoL1FnYyhi/6f/U="


def test_sample_user_string_goes_on_the_wire_as_the_official_sdk_sends_it() -> None:
    assert request_body(VECTOR_USER_STRING, "application/json;charset=utf-8") == VECTOR_WIRE


def test_sample_style_code_builds_the_vector_string() -> None:
    assert json.loads(sample_style_string()) == json.loads(VECTOR_USER_STRING)
    assert request_body(sample_style_string(), "application/json") == VECTOR_WIRE


def test_model_object_sends_the_same_bytes() -> None:
    assert request_body(vector_model(), "application/json") == VECTOR_WIRE


def test_model_holding_sample_style_dicts_sends_the_same_bytes() -> None:
    nested = json.loads(sample_style_string())["_fields"]
    req = GenerateFlexAPICaptureContextRequest(fields=nested)
    assert request_body(req, "application/json") == VECTOR_WIRE


@pytest.mark.parametrize(
    "body",
    [
        json.loads(VECTOR_WIRE),  # camelCase dict
        json.loads(VECTOR_USER_STRING),  # underscore dict
        vector_model().to_dict() | {},  # snake_case dict with explicit Nones removed below
    ],
)
def test_dict_forms_send_the_same_bytes(body: dict) -> None:
    assert request_body(del_none(body), "application/json") == VECTOR_WIRE


def test_camel_case_string_is_reserialised_with_default_separators_and_ascii() -> None:
    assert request_body('{"fields":{}}', "application/json") == b'{"fields": {}}'
    assert request_body('{"name":"é"}', "application/json") == b'{"name": "\\u00e9"}'


def test_to_dict_string_sends_explicit_nulls_like_the_official_sdk() -> None:
    body = request_body(json.dumps(Leaf().to_dict()), "application/json")
    assert body == b'{"required": null}'


def test_values_starting_with_underscore_are_not_rewritten() -> None:
    # The official SDK sends {"xY": "leading value"}: it rewrites `"_` inside values too.
    assert request_body('{"_x_y": "_leading value", "q": "a\\"_b"}', "application/json") == (
        b'{"xY": "_leading value", "q": "a\\"_b"}'
    )


def test_official_key_fixups_apply_to_keys() -> None:
    body = request_body({"company_tax_id": 1, "product_sku": 2, "sec_code": 3, "a_b_c": 4, "x_1": 5}, "application/json")
    assert body == b'{"companyTaxID": 1, "productSKU": 2, "SECCode": 3, "aBC": 4, "x_1": 5}'


def test_lists_of_any_items_are_accepted() -> None:
    assert request_body({"target_origins": ["https://a.example", 1, None]}, "application/json") == (
        b'{"targetOrigins": ["https://a.example", 1, null]}'
    )


@pytest.mark.parametrize("bad", ["", "{not json", object(), b"\xff\xfe"])
def test_bad_bodies_raise_a_typed_error(bad: object) -> None:
    with pytest.raises(RequestBodyError) as info:
        request_body(bad, "application/json")
    assert isinstance(info.value, ValueError)


def test_bad_json_error_does_not_echo_the_body() -> None:
    secret = '{"number": "4111111111111111", oops}'
    with pytest.raises(RequestBodyError) as info:
        request_body(secret, "application/json")
    assert "4111" not in str(info.value)


def test_jwt_bodies_are_sent_verbatim() -> None:
    assert request_body("a.b.c.d.e", "application/jwt") == b"a.b.c.d.e"


# ---- model behaviour (compat §1.4) ----


def test_model_constructor_order_and_maps() -> None:
    card = Flexv2sessionsFieldsPaymentInformationCard(Leaf(True), Leaf(False))
    assert card.number == Leaf(required=True) and card.type == Leaf(required=False)
    assert list(Flexv2sessionsFieldsPaymentInformationCard.attribute_map.items()) == [
        ("number", "number"),
        ("type", "type"),
        ("security_code", "securityCode"),
        ("expiration_month", "expirationMonth"),
        ("expiration_year", "expirationYear"),
    ]
    assert set(Flexv2sessionsFieldsPaymentInformationCard.swagger_types.values()) == {
        "Flexv2sessionsFieldsOrderInformationAmountDetailsTotalAmount"
    }
    assert Leaf.swagger_types == {"required": "bool"}
    assert list(Flexv2sessionsFieldsOrderInformationShipTo.attribute_map) == [
        "address1", "address2", "administrative_area", "building_number", "country", "district",
        "locality", "postal_code", "first_name", "last_name", "company",
    ]
    assert "email" in Flexv2sessionsFieldsOrderInformationBillTo.attribute_map
    assert "phone_number" in Flexv2sessionsFieldsOrderInformationBillTo.attribute_map


def test_model_dict_layout_and_no_type_validation() -> None:
    leaf = Leaf(required="notabool")
    assert leaf.required == "notabool"
    assert leaf.__dict__ == {"_required": "notabool", "discriminator": None}
    assert GenerateFlexAPICaptureContextRequest().__dict__ == {"_fields": None, "discriminator": None}
    with pytest.raises(TypeError):
        Leaf(bogus=1)


def test_to_dict_to_str_repr_eq() -> None:
    model = vector_model()
    as_dict = model.to_dict()
    assert as_dict["fields"]["order_information"]["bill_to"] is None  # snake names, Nones kept
    assert as_dict["fields"]["payment_information"]["card"]["security_code"] == {"required": False}
    assert model.to_str() == pprint.pformat(as_dict)
    assert repr(model) == model.to_str()
    assert model == vector_model() and not (model != vector_model())
    assert Leaf(required=True) != Leaf(required=False)
    assert Leaf(required=True) != {"_required": True, "discriminator": None}
    with pytest.raises(TypeError):
        hash(model)


def test_self_referencing_or_absurdly_deep_bodies_are_typed_errors() -> None:
    from flex_ext.body import RequestBodyError, request_body

    looped: dict[str, object] = {}
    looped["fields"] = looped
    with pytest.raises(RequestBodyError, match="nested too deeply"):
        request_body(looped)
    with pytest.raises(RequestBodyError, match="nested too deeply"):
        request_body("[" * 100_000 + "]" * 100_000)


# ---- checkout models (checkout.md §3-§4) ----


def test_checkout_models_keep_the_official_positional_order_and_json_names() -> None:
    from CyberSource import (
        PtsV2PaymentsPost201Response,
        PtsV2PaymentsPost201ResponseLinks,
        PtsV2PaymentsPost201ResponseLinksSelf,
        Ptsv2paymentsOrderInformationLineItems,
        TssV2TransactionsGet200Response,
    )

    item = Ptsv2paymentsOrderInformationLineItems("code", "name", "SKU-1", 2, "5.00")
    assert (item.product_code, item.product_sku, item.quantity, item.unit_price) == ("code", "SKU-1", 2, "5.00")
    assert Ptsv2paymentsOrderInformationLineItems.attribute_map["product_sku"] == "productSku"
    links = PtsV2PaymentsPost201ResponseLinks(PtsV2PaymentsPost201ResponseLinksSelf(href="/self", method="GET"))
    assert links._self.href == "/self" and links.to_dict()["_self"] == {"href": "/self", "method": "GET"}
    assert list(PtsV2PaymentsPost201ResponseLinks.attribute_map.items())[:3] == [
        ("_self", "self"), ("reversal", "reversal"), ("capture", "capture")]
    assert PtsV2PaymentsPost201Response.attribute_map["links"] == "_links"
    assert list(PtsV2PaymentsPost201Response.swagger_types)[:4] == ["links", "id", "message", "submit_time_utc"]
    assert TssV2TransactionsGet200Response.attribute_map["submit_time_utc"] == "submitTimeUTC"
    # Official branches a card-not-present checkout does not use are plain dicts, not models.
    assert PtsV2PaymentsPost201Response.swagger_types["risk_information"] == "object"


def uc_request(nest):
    """The official Unified Checkout sample's request; `nest` is identity or `.__dict__`."""
    from CyberSource import (
        GenerateUnifiedCheckoutCaptureContextRequest,
        Upv1capturecontextsCaptureMandate,
        Upv1capturecontextsCompleteMandate,
        Upv1capturecontextsDataOrderInformationBillTo,
        Upv1capturecontextsDataOrderInformationBillToCompany,
        Upv1capturecontextsDataOrderInformationShipTo,
        Upv1capturecontextsOrderInformation,
        Upv1capturecontextsOrderInformationAmountDetails,
    )

    return GenerateUnifiedCheckoutCaptureContextRequest(
        client_version="0.23",
        target_origins=["https://yourCheckoutPage.com"],
        allowed_card_networks=["VISA", "MASTERCARD"],
        allowed_payment_types=["PANENTRY", "CLICKTOPAY"],
        country="US",
        locale="en_US",
        capture_mandate=nest(Upv1capturecontextsCaptureMandate(
            billing_type="FULL", request_email=True, request_phone=True, request_shipping=True,
            ship_to_countries=["US", "GB"], show_accepted_network_icons=True)),
        order_information=nest(Upv1capturecontextsOrderInformation(
            amount_details=nest(Upv1capturecontextsOrderInformationAmountDetails(total_amount="21.00", currency="USD")),
            bill_to=nest(Upv1capturecontextsDataOrderInformationBillTo(
                address1="277 Park Avenue", country="US", locality="New York", postal_code="10172",
                company=nest(Upv1capturecontextsDataOrderInformationBillToCompany(name="Visa Inc", country="US")),
                email="john.doe@visa.com", first_name="John", last_name="Doe")),
            ship_to=nest(Upv1capturecontextsDataOrderInformationShipTo(country="GB", first_name="Joe")))),
        complete_mandate=nest(Upv1capturecontextsCompleteMandate(type="CAPTURE", decision_manager=False)),
    )


UC_WIRE = (
    b'{"clientVersion": "0.23", "targetOrigins": ["https://yourCheckoutPage.com"], '
    b'"allowedCardNetworks": ["VISA", "MASTERCARD"], "allowedPaymentTypes": ["PANENTRY", "CLICKTOPAY"], '
    b'"country": "US", "locale": "en_US", "captureMandate": {"billingType": "FULL", "requestEmail": true, '
    b'"requestPhone": true, "requestShipping": true, "shipToCountries": ["US", "GB"], '
    b'"showAcceptedNetworkIcons": true}, "completeMandate": {"type": "CAPTURE", "decisionManager": false}, '
    b'"orderInformation": {"amountDetails": {"totalAmount": "21.00", "currency": "USD"}, '
    b'"billTo": {"address1": "277 Park Avenue", "country": "US", "locality": "New York", "postalCode": "10172", '
    b'"company": {"name": "Visa Inc", "country": "US"}, "email": "john.doe@visa.com", "firstName": "John", '
    b'"lastName": "Doe"}, "shipTo": {"country": "GB", "firstName": "Joe"}}}'
)


def test_unified_checkout_request_sends_the_same_bytes_in_every_style() -> None:
    sample_string = json.dumps(del_none(uc_request(lambda m: m.__dict__).__dict__))
    assert request_body(sample_string, "application/json;charset=utf-8") == UC_WIRE
    assert request_body(uc_request(lambda m: m), "application/json;charset=utf-8") == UC_WIRE
    assert request_body(json.loads(UC_WIRE), "application/json;charset=utf-8") == UC_WIRE


def test_uc_cpf_goes_out_under_its_json_name_from_a_model() -> None:
    from CyberSource import Upv1capturecontextsCaptureMandate, Upv1capturecontextsCaptureMandateCPF

    mandate = Upv1capturecontextsCaptureMandate(cpf=Upv1capturecontextsCaptureMandateCPF(required=True))
    assert request_body(mandate, "application/json") == b'{"CPF": {"required": true}}'
    # A samples-style string camel-cases `_cpf` to `cpf`, exactly as the official SDK sends it.
    assert request_body(json.dumps(del_none(Upv1capturecontextsCaptureMandate(
        cpf=Upv1capturecontextsCaptureMandateCPF(required=True).__dict__).__dict__)), "application/json") == (
        b'{"cpf": {"required": true}}')


@pytest.mark.parametrize("style", ["models", "samples' __dict__"])
def test_reprs_mask_card_data_at_any_depth_and_keep_the_data(style: str) -> None:
    from CyberSource import (
        CreatePaymentRequest,
        Ptsv2paymentsPaymentInformation,
        Ptsv2paymentsPaymentInformationCard,
        Ptsv2paymentsTokenInformation,
    )

    nest = (lambda m: m) if style == "models" else (lambda m: m.__dict__)
    card = Ptsv2paymentsPaymentInformationCard(
        number="4111111111111111", expiration_month="12", expiration_year="2031", security_code="987")
    request = CreatePaymentRequest(
        payment_information=nest(Ptsv2paymentsPaymentInformation(card=nest(card))),
        token_information=nest(Ptsv2paymentsTokenInformation(transient_token_jwt="eyJhbGciOiJSUzI1NiJ9.eyJ4Ijox.c2ln")),
    )
    for shown in (repr(request), str(request), request.to_str(), repr(card)):
        assert "4111111111111111" not in shown and "987" not in shown and "2031" not in shown
        assert "eyJ4Ijox" not in shown
    assert "'number': 'XXXXXXXXXXXXXXXX'" in repr(card)
    assert card.to_dict()["number"] == "4111111111111111"  # the data itself is untouched
    assert json.loads(request_body(request, "application/json"))["paymentInformation"]["card"]["securityCode"] == "987"
