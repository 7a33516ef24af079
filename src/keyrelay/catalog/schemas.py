"""Validated inputs for catalog use cases (shared by the API and the console)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from keyrelay.catalog import kinds
from keyrelay.kit.money import MAX_AMOUNT_MINOR

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def _slug(value: str) -> str:
    value = value.strip().lower()
    if not SLUG.match(value):
        raise PydanticCustomError("slug_format", "use lower-case letters, digits and single hyphens")
    return value


class CategoryIn(BaseModel):
    """A new or edited category."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=80, examples=["Game keys"])
    slug: str = Field(min_length=1, max_length=80, examples=["game-keys"])
    description: str = Field(default="", max_length=2000)
    sort_order: int = Field(default=0, ge=-10000, le=10000)
    is_active: bool = True

    _check_slug = field_validator("slug")(_slug)


class ProductIn(BaseModel):
    """A new or edited product. Prices are integers of minor units (1999 = ¥19.99)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category_id: int = Field(gt=0)
    name: str = Field(min_length=1, max_length=120, examples=["Steam wallet code 50"])
    slug: str = Field(min_length=1, max_length=120, examples=["steam-50"])
    description: str = Field(default="", max_length=10000)
    kind: str = Field(
        default="card_key",
        description="How units are delivered: one of the registered product kinds",
        json_schema_extra=lambda schema: schema.update(enum=[k.name for k in kinds.all_kinds()]),
    )
    price_minor: int = Field(gt=0, le=MAX_AMOUNT_MINOR, strict=True, examples=[4999])
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3,4}$")
    supply_price_minor: int = Field(default=0, ge=0, le=MAX_AMOUNT_MINOR, strict=True, description="Paid to the supplier per unit")
    map_minor: int = Field(default=0, ge=0, le=MAX_AMOUNT_MINOR, strict=True, description="Minimum advertised price; 0 = none")
    max_markup_bp: int | None = Field(default=None, ge=0, le=1_000_000, description="Retail ceiling over MAP, basis points")
    max_per_order: int = Field(default=10, ge=1, le=1000)
    max_per_contact: int = Field(default=0, ge=0, le=100000)
    low_stock_threshold: int = Field(default=10, ge=0, le=10**6)
    fixed_content: str | None = Field(default=None, max_length=4096)
    is_active: bool = True
    sort_order: int = Field(default=0, ge=-10000, le=10000)

    _check_slug = field_validator("slug")(_slug)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        known = [k.name for k in kinds.all_kinds()]
        if value not in known:
            raise ValueError(f"kind must be one of {', '.join(known)}")
        return value

    @model_validator(mode="after")
    def _prices_in_order(self) -> ProductIn:
        # supply ≤ MAP ≤ main price: the platform never sells below cost nor undercuts its own MAP.
        if self.supply_price_minor > self.price_minor:
            raise PydanticCustomError("supply_above_price", "supply_price_minor must not exceed price_minor")
        if self.map_minor > self.price_minor:
            raise PydanticCustomError("price_below_map", "the main-site price must not be below the MAP (map_minor)")
        if self.map_minor and self.map_minor < self.supply_price_minor:
            raise PydanticCustomError("map_below_supply", "map_minor must not be below supply_price_minor")
        return self
