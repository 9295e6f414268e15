#!/usr/bin/env python3
"""Derive openapi/checkout.yaml from facts of the official CyberSource Python SDK 0.0.80.

    pip download --no-deps cybersource-rest-client-python==0.0.80 -d /tmp/off
    tar xzf /tmp/off/cybersource_rest_client_python-0.0.80.tar.gz -C /tmp/off
    python openapi/derive_checkout.py openapi/checkout.yaml \
        /tmp/off/cybersource_rest_client_python-0.0.80/CyberSource

From the official models it reads facts only: class names and, per class, the
`swagger_types` and `attribute_map` literals (attribute order, JSON names, types). EXPAND
below decides which branches become models; the operations (paths, tags, operationIds,
media types, error models) are written out in `paths()`. Not part of the build: the
generator reads checkout.yaml, which this script reproduces byte for byte.
"""

import ast
import glob
import json
import re
import sys

M = {}  # official class name -> (swagger_types, attribute_map)


def read_official_models(root):
    for path in glob.glob(root + "/models/*.py"):
        with open(path, encoding="utf-8") as source:
            tree = ast.parse(source.read())
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            literals = {
                item.targets[0].id: ast.literal_eval(item.value)
                for item in node.body
                if isinstance(item, ast.Assign)
                and isinstance(item.targets[0], ast.Name)
                and item.targets[0].id in ("swagger_types", "attribute_map")
            }
            if len(literals) == 2:
                M[node.name] = (literals["swagger_types"], literals["attribute_map"])


# model -> the attributes whose model types are modelled too; every other model-typed
# attribute is a free-form object (a dict), so positional order and JSON names stay official.
EXPAND = {
    # requests: authorization / sale
    "CreatePaymentRequest": [
        "client_reference_information",
        "processing_information",
        "payment_information",
        "order_information",
        "merchant_information",
        "consumer_authentication_information",
        "point_of_sale_information",
        "installment_information",
        "travel_information",
        "promotion_information",
        "token_information",
    ],
    # used by the official samples (partial authorization, the lodging authorization of the
    # incremental-authorization flow)
    "Ptsv2paymentsMerchantInformation": ["merchant_descriptor"],
    "Ptsv2paymentsPointOfSaleInformation": ["emv"],
    "Ptsv2paymentsTravelInformation": ["lodging"],
    "Ptsv2paymentsTravelInformationLodging": ["room"],
    "Ptsv2paymentsClientReferenceInformation": ["partner"],
    "Ptsv2paymentsClientReferenceInformationPartner": [],
    "Ptsv2paymentsProcessingInformation": ["authorization_options", "capture_options"],
    "ProcessingInfoAuthorizationOptions": ["initiator"],
    "Ptsv2paymentsProcessingInformationCaptureOptions": [],
    "Ptsv2paymentsPaymentInformation": [
        "card",
        "tokenized_card",
        "customer",
        "payment_instrument",
        "instrument_identifier",
        "shipping_address",
        "fluid_data",
        "payment_type",
    ],
    "Ptsv2paymentsPaymentInformationCard": [],
    "Ptsv2paymentsPaymentInformationTokenizedCard": [],
    "Ptsv2paymentsPaymentInformationCustomer": [],
    "Ptsv2paymentsPaymentInformationPaymentInstrument": [],
    "Ptsv2paymentsPaymentInformationInstrumentIdentifier": [],
    "Ptsv2paymentsPaymentInformationShippingAddress": [],
    "Ptsv2paymentsPaymentInformationFluidData": [],
    "Ptsv2paymentsPaymentInformationPaymentType": [],
    "Ptsv2paymentsOrderInformation": ["amount_details", "bill_to", "ship_to", "line_items", "invoice_details"],
    "Ptsv2paymentsOrderInformationAmountDetails": [],
    "Ptsv2paymentsOrderInformationBillTo": ["company"],
    "Ptsv2paymentsOrderInformationBillToCompany": [],
    "Ptsv2paymentsOrderInformationShipTo": [],
    "Ptsv2paymentsOrderInformationLineItems": [],
    "Ptsv2paymentsOrderInformationInvoiceDetails": [],
    "Ptsv2paymentsTokenInformation": ["payment_instrument", "shipping_address"],
    "Ptsv2paymentsTokenInformationPaymentInstrument": [],
    "Ptsv2paymentsTokenInformationShippingAddress": [],
    # follow-on requests
    "IncrementAuthRequest": [
        "client_reference_information",
        "processing_information",
        "order_information",
        "merchant_information",
        "travel_information",
    ],
    "Ptsv2paymentsidClientReferenceInformation": ["partner"],
    "Ptsv2paymentsidClientReferenceInformationPartner": [],
    "Ptsv2paymentsidProcessingInformation": ["authorization_options"],
    "Ptsv2paymentsidProcessingInformationAuthorizationOptions": ["initiator"],
    "Ptsv2paymentsidOrderInformation": ["amount_details"],
    "Ptsv2paymentsidOrderInformationAmountDetails": [],
    "CapturePaymentRequest": [
        "client_reference_information",
        "processing_information",
        "payment_information",
        "order_information",
    ],
    "Ptsv2paymentsidcapturesProcessingInformation": ["capture_options"],
    "Ptsv2paymentsidcapturesProcessingInformationCaptureOptions": [],
    "Ptsv2paymentsidcapturesPaymentInformation": ["customer", "card"],
    "Ptsv2paymentsidcapturesPaymentInformationCard": [],
    "Ptsv2paymentsidcapturesOrderInformation": [
        "amount_details",
        "bill_to",
        "ship_to",
        "line_items",
        "invoice_details",
    ],
    "Ptsv2paymentsidcapturesOrderInformationAmountDetails": [],
    "Ptsv2paymentsidcapturesOrderInformationBillTo": [],
    "Ptsv2paymentsidcapturesOrderInformationShipTo": [],
    "Ptsv2paymentsidcapturesOrderInformationInvoiceDetails": [],
    "RefundPaymentRequest": [
        "client_reference_information",
        "processing_information",
        "payment_information",
        "order_information",
    ],
    "RefundCaptureRequest": [
        "client_reference_information",
        "processing_information",
        "payment_information",
        "order_information",
    ],
    "Ptsv2paymentsidrefundsClientReferenceInformation": ["partner"],
    "Ptsv2paymentsidrefundsProcessingInformation": [],
    "Ptsv2paymentsidrefundsPaymentInformation": [
        "card",
        "customer",
        "payment_instrument",
        "instrument_identifier",
        "shipping_address",
        "tokenized_card",
    ],
    "Ptsv2paymentsidrefundsPaymentInformationCard": [],
    "Ptsv2paymentsidrefundsOrderInformation": ["amount_details", "bill_to", "ship_to", "line_items", "invoice_details"],
    "AuthReversalRequest": ["client_reference_information", "reversal_information", "order_information"],
    "MitReversalRequest": ["client_reference_information", "reversal_information", "order_information"],
    "Ptsv2paymentsidreversalsClientReferenceInformation": ["partner"],
    "Ptsv2paymentsidreversalsReversalInformation": ["amount_details"],
    "Ptsv2paymentsidreversalsReversalInformationAmountDetails": [],
    "Ptsv2paymentsidreversalsOrderInformation": ["line_items"],
    "Ptsv2paymentsidreversalsOrderInformationLineItems": [],
    "VoidPaymentRequest": [
        "client_reference_information",
        "payment_information",
        "order_information",
        "processing_information",
    ],
    "VoidCaptureRequest": [
        "client_reference_information",
        "payment_information",
        "order_information",
        "processing_information",
    ],
    "VoidRefundRequest": [
        "client_reference_information",
        "payment_information",
        "order_information",
        "processing_information",
    ],
    "VoidCreditRequest": [
        "client_reference_information",
        "payment_information",
        "order_information",
        "processing_information",
    ],
    "MitVoidRequest": ["client_reference_information", "payment_information", "order_information"],
    "Ptsv2paymentsidvoidsPaymentInformation": [],
    "Ptsv2paymentsidvoidsOrderInformation": ["amount_details"],
    "Ptsv2paymentsidvoidsProcessingInformation": [],
    "CreateCreditRequest": [
        "client_reference_information",
        "processing_information",
        "payment_information",
        "order_information",
        "token_information",
    ],
    "Ptsv2creditsProcessingInformation": [],
    "Ptsv2creditsTokenInformation": [],
    # capture contexts
    "GenerateUnifiedCheckoutCaptureContextRequest": [
        "capture_mandate",
        "complete_mandate",
        "transient_token_response_options",
        "order_information",
    ],
    "Upv1capturecontextsCaptureMandate": ["cpf"],
    "Upv1capturecontextsCaptureMandateCPF": [],
    "Upv1capturecontextsCompleteMandate": ["tms"],
    "Upv1capturecontextsCompleteMandateTms": [],
    "Upv1capturecontextsOrderInformation": ["amount_details", "bill_to", "ship_to"],
    "Upv1capturecontextsOrderInformationAmountDetails": [],
    "Upv1capturecontextsOrderInformationBillTo": ["company"],
    "Upv1capturecontextsOrderInformationBillToCompany": [],
    "Upv1capturecontextsDataOrderInformationShipTo": [],
    "Upv1capturecontextsDataOrderInformationBillTo": ["company"],
    "Upv1capturecontextsDataOrderInformationBillToCompany": [],
    # responses: authorization
    "PtsV2PaymentsPost201Response": [
        "links",
        "error_information",
        "client_reference_information",
        "processing_information",
        "processor_information",
        "payment_account_information",
        "payment_information",
        "order_information",
        "point_of_sale_information",
        "token_information",
    ],
    "PtsV2PaymentsPost201ResponseLinks": [
        "_self",
        "reversal",
        "capture",
        "customer",
        "payment_instrument",
        "shipping_address",
        "instrument_identifier",
    ],
    "PtsV2PaymentsPost201ResponseLinksSelf": [],
    "PtsV2PaymentsPost201ResponseErrorInformation": ["details"],
    "PtsV2PaymentsPost201ResponseErrorInformationDetails": [],
    "PtsV2PaymentsPost201ResponseClientReferenceInformation": [],
    "PtsV2PaymentsPost201ResponseProcessingInformation": ["capture_options"],
    "PtsV2PaymentsPost201ResponseProcessingInformationCaptureOptions": [],
    "PtsV2PaymentsPost201ResponseProcessorInformation": ["avs", "card_verification", "merchant_advice"],
    "PtsV2PaymentsPost201ResponseProcessorInformationAvs": [],
    "PtsV2PaymentsPost201ResponseProcessorInformationCardVerification": [],
    "PtsV2PaymentsPost201ResponseProcessorInformationMerchantAdvice": [],
    "PtsV2PaymentsPost201ResponsePaymentAccountInformation": ["card", "tokenized_card"],
    "PtsV2PaymentsPost201ResponsePaymentAccountInformationCard": [],
    "PtsV2PaymentsPost201ResponsePaymentAccountInformationTokenizedCard": [],
    "PtsV2PaymentsPost201ResponsePaymentInformation": [
        "card",
        "tokenized_card",
        "account_features",
        "customer",
        "payment_instrument",
        "instrument_identifier",
        "shipping_address",
    ],
    "PtsV2PaymentsPost201ResponsePaymentInformationAccountFeatures": [],
    "PtsV2PaymentsPost201ResponsePaymentInformationInstrumentIdentifier": [],
    "PtsV2PaymentsPost201ResponseOrderInformation": ["amount_details", "invoice_details"],
    "PtsV2PaymentsPost201ResponseOrderInformationAmountDetails": [],
    "PtsV2PaymentsPost201ResponseOrderInformationInvoiceDetails": [],
    "PtsV2PaymentsPost201ResponsePointOfSaleInformation": [],
    "PtsV2PaymentsPost201ResponseTokenInformation": [
        "customer",
        "payment_instrument",
        "shipping_address",
        "instrument_identifier",
    ],
    "PtsV2PaymentsPost201ResponseTokenInformationCustomer": [],
    "PtsV2PaymentsPost201ResponseTokenInformationPaymentInstrument": [],
    "PtsV2PaymentsPost201ResponseTokenInformationShippingAddress": [],
    "PtsV2PaymentsPost201ResponseTokenInformationInstrumentIdentifier": [],
    # responses: follow-ons
    "PtsV2IncrementalAuthorizationPatch201Response": [
        "links",
        "error_information",
        "client_reference_information",
        "processor_information",
        "order_information",
    ],
    "PtsV2IncrementalAuthorizationPatch201ResponseLinks": ["_self"],
    "PtsV2IncrementalAuthorizationPatch201ResponseErrorInformation": ["details"],
    "PtsV2IncrementalAuthorizationPatch201ResponseClientReferenceInformation": [],
    "PtsV2IncrementalAuthorizationPatch201ResponseProcessorInformation": [],
    "PtsV2IncrementalAuthorizationPatch201ResponseOrderInformation": ["amount_details"],
    "PtsV2PaymentsCapturesPost201Response": [
        "links",
        "client_reference_information",
        "processor_information",
        "order_information",
        "point_of_sale_information",
        "processing_information",
    ],
    "PtsV2PaymentsCapturesPost201ResponseLinks": ["_self", "void", "refund"],
    "PtsV2PaymentsCapturesPost201ResponseProcessorInformation": [],
    "PtsV2PaymentsCapturesPost201ResponseOrderInformation": ["amount_details", "invoice_details"],
    "PtsV2PaymentsCapturesPost201ResponseOrderInformationAmountDetails": [],
    "PtsV2PaymentsCapturesPost201ResponsePointOfSaleInformation": [],
    "PtsV2PaymentsCapturesPost201ResponseProcessingInformation": [],
    "PtsV2PaymentsRefundPost201Response": [
        "links",
        "client_reference_information",
        "refund_amount_details",
        "processing_information",
        "processor_information",
        "order_information",
        "point_of_sale_information",
        "error_information",
    ],
    "PtsV2PaymentsRefundPost201ResponseLinks": ["_self", "void"],
    "PtsV2PaymentsRefundPost201ResponseClientReferenceInformation": [],
    "PtsV2PaymentsRefundPost201ResponseRefundAmountDetails": [],
    "PtsV2PaymentsRefundPost201ResponseProcessorInformation": ["merchant_advice"],
    "PtsV2PaymentsRefundPost201ResponseOrderInformation": ["amount_details", "invoice_details"],
    "PtsV2PaymentsRefundPost201ResponseOrderInformationAmountDetails": [],
    "PtsV2PaymentsRefundPost201ResponseErrorInformation": ["details"],
    "PtsV2PaymentsReversalsPost201Response": [
        "links",
        "client_reference_information",
        "reversal_amount_details",
        "processor_information",
        "authorization_information",
        "point_of_sale_information",
    ],
    "PtsV2PaymentsReversalsPost201ResponseReversalAmountDetails": [],
    "PtsV2PaymentsReversalsPost201ResponseProcessorInformation": [],
    "PtsV2PaymentsReversalsPost201ResponseAuthorizationInformation": [],
    "PtsV2PaymentsReversalsPost201ResponsePointOfSaleInformation": [],
    "PtsV2PaymentsVoidsPost201Response": [
        "links",
        "client_reference_information",
        "void_amount_details",
        "processor_information",
    ],
    "PtsV2PaymentsVoidsPost201ResponseVoidAmountDetails": [],
    "PtsV2PaymentsVoidsPost201ResponseProcessorInformation": [],
    "PtsV2CreditsPost201Response": [
        "links",
        "client_reference_information",
        "credit_amount_details",
        "processor_information",
        "order_information",
        "point_of_sale_information",
        "error_information",
    ],
    "PtsV2CreditsPost201ResponseCreditAmountDetails": [],
    # error bodies
    "PtsV2PaymentsPost400Response": ["details"],
    "PtsV2PaymentsCapturesPost400Response": ["details"],
    "PtsV2PaymentsRefundPost400Response": ["details"],
    "PtsV2PaymentsReversalsPost400Response": ["details"],
    "PtsV2PaymentsVoidsPost400Response": ["details"],
    "PtsV2IncrementalAuthorizationPatch400Response": ["details"],
    "PtsV2PaymentsPost502Response": [],
    # transaction details
    "TssV2TransactionsGet200Response": [
        "application_information",
        "client_reference_information",
        "error_information",
        "order_information",
        "payment_information",
        "processing_information",
        "processor_information",
        "token_information",
        "links",
    ],
    "TssV2TransactionsGet200ResponseApplicationInformation": ["applications"],
    "TssV2TransactionsGet200ResponseApplicationInformationApplications": [],
    "TssV2TransactionsGet200ResponseClientReferenceInformation": ["partner"],
    "TssV2TransactionsGet200ResponseClientReferenceInformationPartner": [],
    "TssV2TransactionsGet200ResponseErrorInformation": [],
    "TssV2TransactionsGet200ResponseOrderInformation": [
        "bill_to",
        "ship_to",
        "line_items",
        "amount_details",
        "invoice_details",
    ],
    "TssV2TransactionsGet200ResponseOrderInformationBillTo": [],
    "TssV2TransactionsGet200ResponseOrderInformationShipTo": [],
    "TssV2TransactionsGet200ResponseOrderInformationLineItems": [],
    "TssV2TransactionsGet200ResponseOrderInformationAmountDetails": [],
    "TssV2TransactionsGet200ResponseOrderInformationInvoiceDetails": [],
    "TssV2TransactionsGet200ResponsePaymentInformation": [
        "payment_type",
        "customer",
        "card",
        "instrument_identifier",
        "account_features",
    ],
    "TssV2TransactionsGet200ResponsePaymentInformationPaymentType": [],
    "TssV2TransactionsGet200ResponsePaymentInformationCustomer": [],
    "TssV2TransactionsGet200ResponsePaymentInformationCard": [],
    "TssV2TransactionsGet200ResponsePaymentInformationInstrumentIdentifier": [],
    "TssV2TransactionsGet200ResponsePaymentInformationAccountFeatures": [],
    "TssV2TransactionsGet200ResponseProcessingInformation": ["authorization_options", "capture_options"],
    "TssV2TransactionsGet200ResponseProcessingInformationAuthorizationOptions": [],
    "TssV2TransactionsGet200ResponseProcessingInformationCaptureOptions": [],
    "TssV2TransactionsGet200ResponseProcessorInformation": ["processor", "card_verification", "avs"],
    "TssV2TransactionsGet200ResponseProcessorInformationProcessor": [],
    "TssV2TransactionsGet200ResponseTokenInformation": [],
    "TssV2TransactionsGet200ResponseLinks": ["_self", "related_transactions"],
}

SCALARS = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "float": {"type": "number"},
}


def element(t):
    m = re.match(r"list\[(.*)\]$", t)
    return (m.group(1), True) if m else (t, False)


def schema_for(owner, attr, t):
    inner, is_list = element(t)
    if inner in SCALARS:
        s = dict(SCALARS[inner])
    elif inner in M and attr in EXPAND[owner]:
        s = {"$ref": "#/components/schemas/" + inner}
    elif inner in M or inner == "object" or inner.startswith("dict("):
        s = {"type": "object"}
    else:
        raise SystemExit(f"unknown type {t} for {owner}.{attr}")
    return {"type": "array", "items": s} if is_list else s


def close():
    """Children named in EXPAND but not listed themselves are modelled as leaves."""
    added = []
    for name in list(EXPAND):
        for attr in EXPAND[name]:
            inner, _ = element(M[name][0][attr])
            if inner not in EXPAND:
                EXPAND[inner] = []
                added.append(inner)
    return added


def schemas():
    out = {}
    for name in EXPAND:
        types, amap = M[name]
        props = {amap[a]: schema_for(name, a, t) for a, t in types.items()}
        out[name] = {"type": "object", "properties": props}
    return out


def yaml(obj, indent=0):
    """A small YAML emitter for this document (dicts, lists, scalars)."""
    pad = "  " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = scalar(k)
            if isinstance(v, (dict, list)) and v:
                if isinstance(v, dict) and all(not isinstance(x, (dict, list)) for x in v.values()):
                    flow = ", ".join(f"{scalar(a)}: {scalar(b)}" for a, b in v.items())
                    lines.append(f"{pad}{key}: {{{flow}}}")
                else:
                    lines.append(f"{pad}{key}:")
                    lines.extend(yaml(v, indent + 1))
            elif isinstance(v, str) and "\n" in v:
                lines.append(f"{pad}{key}: |")
                lines.extend(f"{pad}  {line}" if line else "" for line in v.rstrip("\n").split("\n"))
            else:
                lines.append(f"{pad}{key}: {scalar(v)}")
    else:
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                sub = yaml(v, indent + 1)
                lines.append(f"{pad}- {sub[0].strip()}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {scalar(v)}")
    return lines


def scalar(v):
    if isinstance(v, bool) or v is None:
        return {True: "true", False: "false", None: "null"}[v]
    if isinstance(v, (int, float)):
        return str(v)
    if v in ({}, []):
        return json.dumps(v)
    if (
        re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_ .()`'-]*", v)
        and v not in ("true", "false", "null", "yes", "no", "on", "off")
        and not v.endswith(" ")
        and ": " not in v
    ):
        return v
    return json.dumps(v)


def ref(name):
    return {"$ref": "#/components/schemas/" + name}


def id_param(desc):
    return {"name": "id", "in": "path", "required": True, "description": desc, "schema": {"type": "string"}}


def body(model, media="application/json"):
    return {"required": True, "content": {media: {"schema": ref(model)}}}


def pts_op(tag, op_id, summary, request, response, error400, desc, id_desc=None, id_first=False, method="post"):
    op = {
        "tags": [tag],
        "operationId": op_id,
        "summary": summary,
        "description": desc,
        "security": [{"merchantAuth": []}],
    }
    if id_desc:
        op["parameters"] = [id_param(id_desc)]
    if id_first:
        op["x-id-first"] = True
    op["requestBody"] = body(request)
    responses = {
        "201": {
            "description": "Processed; `status` tells the outcome (a decline is a 201 too).",
            "content": {"application/hal+json": {"schema": ref(response)}},
        }
    }
    if error400:
        responses["400"] = {
            "description": "Invalid request: `reason` and `details[].field` say what to fix.",
            "content": {"application/json": {"schema": ref(error400)}},
        }
    responses["502"] = {
        "description": "Processor or system failure; retry later.",
        "content": {"application/json": {"schema": ref("PtsV2PaymentsPost502Response")}},
    }
    op["responses"] = responses
    return {method: op}


CAPTURE_CONTEXT_201 = {
    "201": {
        "description": "The capture context (a compact JWT signed RS256).",
        "content": {"application/jwt": {"schema": {"type": "string"}}},
    }
}


def paths():
    p = {}
    p["/up/v1/capture-contexts"] = {
        "post": {
            "tags": ["UnifiedCheckoutCaptureContext"],
            "operationId": "generateUnifiedCheckoutCaptureContext",
            "summary": "Generate a Unified Checkout capture context",
            "description": "Returns the capture context (compact JWT) that the Unified Checkout browser library needs.",
            "security": [{"merchantAuth": []}],
            "requestBody": body("GenerateUnifiedCheckoutCaptureContextRequest", "application/json;charset=utf-8"),
            "responses": dict(CAPTURE_CONTEXT_201),
        }
    }
    details = {
        "description": "Non-sensitive data of the token (masked card, amount, addresses) as JSON. "
        "Not deserialized: read the raw body, the second value returned.",
        "content": {"application/json": {}},
    }
    p["/up/v1/payment-details/{transientToken}"] = {
        "get": {
            "tags": ["TransientTokenDataV2"],
            "operationId": "getTransactionForTransientToken",
            "summary": "Get the payment details of a transient token",
            "description": "Looks up the data behind a Unified Checkout transient token.",
            "security": [{"merchantAuth": []}],
            "x-content-type": "application/json;charset=utf-8",
            "parameters": [
                {
                    "name": "transientToken",
                    "in": "path",
                    "required": True,
                    "description": "The whole transient token (compact JWT).",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {"200": details},
        }
    }
    p["/flex/v2/payment-details/{jti}"] = {
        "get": {
            "tags": ["TransientTokenDataV2"],
            "operationId": "getTransactionForTransientTokenJti",
            "summary": "Get the payment details of a transient token by its jti",
            "description": "Same as getTransactionForTransientToken, keyed by the token's `jti` claim.",
            "security": [{"merchantAuth": []}],
            "x-content-type": "application/json;charset=utf-8",
            "parameters": [
                {
                    "name": "jti",
                    "in": "path",
                    "required": True,
                    "description": "The `jti` claim of the transient token.",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {"200": details},
        }
    }
    p["/flex/v2/payment-credentials/{paymentCredentialsReference}"] = {
        "get": {
            "tags": ["TransientTokenDataV2"],
            "operationId": "getPaymentCredentialsForTransientToken",
            "summary": "Get the payment credentials behind a transient token",
            "description": "Returns the full credentials as a JWE encrypted to the merchant's key; needs PCI scope.",
            "security": [{"merchantAuth": []}],
            "x-content-type": "application/json;charset=utf-8",
            "parameters": [
                {
                    "name": "paymentCredentialsReference",
                    "in": "path",
                    "required": True,
                    "description": "The reference returned by the Unified Checkout completion.",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": {
                    "description": "The credentials (compact JWE).",
                    "content": {"application/jwt": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    pay_id = "The id of the authorization (the `id` of the payment response)."
    p["/pts/v2/payments"] = pts_op(
        "Payments",
        "createPayment",
        "Process a payment",
        "CreatePaymentRequest",
        "PtsV2PaymentsPost201Response",
        "PtsV2PaymentsPost400Response",
        "Authorizes (or, with `processingInformation.capture`, sells) with card data, a transient "
        "token (`tokenInformation.transientTokenJwt` or `.jti`) or TMS tokens.",
    )
    p["/pts/v2/payments/{id}"] = pts_op(
        "Payments",
        "incrementAuth",
        "Increment an authorization",
        "IncrementAuthRequest",
        "PtsV2IncrementalAuthorizationPatch201Response",
        "PtsV2IncrementalAuthorizationPatch400Response",
        "Adds `additionalAmount` to an authorization.",
        pay_id,
        id_first=True,
        method="patch",
    )
    p["/pts/v2/payments/{id}/captures"] = pts_op(
        "Capture",
        "capturePayment",
        "Capture a payment",
        "CapturePaymentRequest",
        "PtsV2PaymentsCapturesPost201Response",
        "PtsV2PaymentsCapturesPost400Response",
        "Captures an authorization, in full or in part.",
        pay_id,
    )
    p["/pts/v2/payments/{id}/reversals"] = pts_op(
        "Reversal",
        "authReversal",
        "Reverse an authorization",
        "AuthReversalRequest",
        "PtsV2PaymentsReversalsPost201Response",
        "PtsV2PaymentsReversalsPost400Response",
        "Releases the funds an authorization holds.",
        pay_id,
        id_first=True,
    )
    p["/pts/v2/reversals"] = pts_op(
        "Reversal",
        "mitReversal",
        "Timeout reversal",
        "MitReversalRequest",
        "PtsV2PaymentsReversalsPost201Response",
        "PtsV2PaymentsReversalsPost400Response",
        "Reverses an authorization whose response never arrived, found by `clientReferenceInformation.transactionId`.",
    )
    p["/pts/v2/payments/{id}/refunds"] = pts_op(
        "Refund",
        "refundPayment",
        "Refund a payment",
        "RefundPaymentRequest",
        "PtsV2PaymentsRefundPost201Response",
        "PtsV2PaymentsRefundPost400Response",
        "Refunds a sale (an authorization captured at once).",
        "The id of the payment (sale).",
    )
    p["/pts/v2/captures/{id}/refunds"] = pts_op(
        "Refund",
        "refundCapture",
        "Refund a capture",
        "RefundCaptureRequest",
        "PtsV2PaymentsRefundPost201Response",
        "PtsV2PaymentsRefundPost400Response",
        "Refunds a capture.",
        "The id of the capture.",
    )
    for kind, path, what in (
        ("Payment", "payments", "payment"),
        ("Capture", "captures", "capture"),
        ("Refund", "refunds", "refund"),
        ("Credit", "credits", "credit"),
    ):
        p[f"/pts/v2/{path}/{{id}}/voids"] = pts_op(
            "Void",
            f"void{kind}",
            f"Void a {what}",
            f"Void{kind}Request",
            "PtsV2PaymentsVoidsPost201Response",
            "PtsV2PaymentsVoidsPost400Response",
            f"Cancels a {what} that has not been settled yet.",
            f"The id of the {what}.",
        )
    p["/pts/v2/voids"] = pts_op(
        "Void",
        "mitVoid",
        "Timeout void",
        "MitVoidRequest",
        "PtsV2PaymentsVoidsPost201Response",
        "PtsV2PaymentsVoidsPost400Response",
        "Voids a transaction whose response never arrived, found by `clientReferenceInformation.transactionId`.",
    )
    p["/pts/v2/credits"] = pts_op(
        "Credit",
        "createCredit",
        "Process a credit",
        "CreateCreditRequest",
        "PtsV2CreditsPost201Response",
        None,
        "A stand-alone credit (not tied to a payment).",
    )
    p["/tss/v2/transactions/{id}"] = {
        "get": {
            "tags": ["TransactionDetails"],
            "operationId": "getTransaction",
            "summary": "Retrieve a transaction",
            "description": "The details of one transaction; a new transaction appears after a short delay.",
            "security": [{"merchantAuth": []}],
            "x-content-type": "application/json;charset=utf-8",
            "parameters": [id_param("The id of the transaction.")],
            "responses": {
                "200": {
                    "description": "The transaction.",
                    "content": {
                        "application/hal+json;charset=utf-8": {"schema": ref("TssV2TransactionsGet200Response")}
                    },
                },
                "404": {"description": "No transaction with this id (yet)."},
            },
        }
    }
    return p


HEADER = """\
# The checkout APIs of the CyberSource package: Unified Checkout capture contexts, transient
# token data, payments and their follow-ons (capture, reversal, refund, void, credit) and
# transaction details. Generated together with flex-v2.yaml into one `CyberSource` package:
# flex-v2.yaml lists these paths by reference. Written by openapi/derive_checkout.py (see
# openapi/README.md): change the script and re-run it rather than editing this file.
#
# Names follow the official CyberSource Python SDK 0.0.80, so its sample code runs unchanged:
# tags give the API classes, operationIds the methods, schema names the model classes, and
# each model's properties keep the official order (the constructor's positional order) and
# JSON names. Branches of the official model trees that a card-not-present checkout does
# not use are free-form objects (`type: object`, plain dicts in Python) instead of models:
# their JSON still goes out and comes back, as dicts.
#
# Vendor extensions read by the templates:
#   x-id-first      the path `id` comes before the body in the method's positional order
#                   (the official SDK's order for authReversal and incrementAuth; every
#                   other operation with a body takes the body first).
#   x-content-type  the Content-Type the official SDK sends on a GET (no body).
"""


def document():
    close()
    schemas_ = schemas()
    # One definition of the Microform options, shared with the Microform request in flex-v2.yaml.
    del schemas_["Microformv2sessionsTransientTokenResponseOptions"]
    uc = schemas_["GenerateUnifiedCheckoutCaptureContextRequest"]["properties"]
    uc["transientTokenResponseOptions"] = {
        "$ref": "flex-v2.yaml#/components/schemas/Microformv2sessionsTransientTokenResponseOptions"
    }
    doc = {
        "openapi": "3.0.3",
        "info": {
            "title": "CyberSource checkout APIs",
            "version": "0.0.80",
            "description": "Capture contexts, transient token data, payments and follow-ons, transaction details.",
        },
        "servers": [
            {"url": "https://apitest.cybersource.com", "description": "Test (CAS)"},
            {"url": "https://api.cybersource.com", "description": "Production"},
        ],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "merchantAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Signature",
                    "description": "See flex-v2.yaml.",
                }
            },
            "schemas": schemas_,
        },
    }
    return HEADER + "\n".join(yaml(doc)) + "\n"


def main():
    read_official_models(sys.argv[2])
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        out.write(document())


if __name__ == "__main__":
    main()
