"""Payment providers, one module each, behind the ``PaymentProvider`` interface."""
