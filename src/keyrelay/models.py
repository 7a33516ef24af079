"""Import every domain's tables so ``Base.metadata`` is complete (Alembic, tests)."""

from keyrelay.audit import models as audit_models
from keyrelay.catalog import models as catalog_models
from keyrelay.distribution import models as distribution_models
from keyrelay.identity import api_keys as api_key_models
from keyrelay.identity import models as identity_models
from keyrelay.inventory import models as inventory_models
from keyrelay.kit import idempotency, outbox
from keyrelay.kit.db import Base
from keyrelay.ledger import models as ledger_models
from keyrelay.orders import models as order_models
from keyrelay.payments import models as payment_models
from keyrelay.webhooks import models as webhook_models

metadata = Base.metadata
__all__ = [
    "api_key_models",
    "audit_models",
    "catalog_models",
    "distribution_models",
    "idempotency",
    "identity_models",
    "inventory_models",
    "ledger_models",
    "metadata",
    "order_models",
    "outbox",
    "payment_models",
    "webhook_models",
]
