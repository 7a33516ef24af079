"""Python client for the KeyRelay Channel API (``/api/v1``).

>>> from keyrelay_client import Client
>>> with Client("https://keys.example.com", "kr_…", "krsk_…") as kr:
...     order = kr.purchase(product_id=3, quantity=1, buyer_ref="shop-1001", idempotency_key="shop-1001")
...     print(order.number, order.keys)
"""

from keyrelay_client.aio import AsyncClient
from keyrelay_client.client import Client
from keyrelay_client.errors import (
    AuthenticationError,
    ConflictError,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InsufficientBalance,
    KeyRelayError,
    NotFoundError,
    OutOfStock,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    ValidationError,
    WebhookVerificationError,
)
from keyrelay_client.models import (
    Offer,
    Order,
    OrderEvent,
    Page,
    Product,
    StatementLine,
    StockLevel,
    Wallet,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSecret,
)
from keyrelay_client.signing import canonical_request, signed_headers
from keyrelay_client.webhooks import sign_webhook, verify_webhook

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "InsufficientBalance",
    "KeyRelayError",
    "NotFoundError",
    "Offer",
    "Order",
    "OrderEvent",
    "OutOfStock",
    "Page",
    "PermissionDenied",
    "Product",
    "RateLimited",
    "ServerError",
    "StatementLine",
    "StockLevel",
    "TransportError",
    "ValidationError",
    "Wallet",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookSecret",
    "WebhookVerificationError",
    "canonical_request",
    "sign_webhook",
    "signed_headers",
    "verify_webhook",
]
