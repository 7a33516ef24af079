"""Every failure of the distribution network (tree, invites, sub-sites, channels, prices), with its stable code."""

from __future__ import annotations

from keyrelay.kit.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed, define
from keyrelay.kit.errors import NOT_FOUND as NOT_FOUND  # re-exported: missing things share one code

# channels
CHANNEL_NAME = define(
    "channel_name_invalid", ValidationFailed, "channel name must be 1–60 characters", N_("The channel name must be 1–60 characters.")
)
CHANNEL_KIND = define("unknown_channel_kind", ValidationFailed, "kind must be one of %(choices)s", N_("Choose one of the options."))
CHANNEL_NAME_TAKEN = define(
    "channel_name_taken", Conflict, "you already have a channel with this name", N_("You already have a channel with this name.")
)
CHANNEL_NOT_FOUND = define("not_found", NotFound, "channel %(id)s does not exist", N_("Choose one of your channels."))
CHANNEL_OFF = define("channel_switched_off", ValidationFailed, "this channel is switched off", N_("This channel is switched off."))
CHANNEL_NAME_NOT_FOUND = define("not_found", NotFound, "channel %(name)r does not exist", N_("Choose one of your channels."))

# prices
NOT_SOLD_HERE = define(
    "retail_below_cost",
    Conflict,
    "this product is not available here at the moment (retail below cost)",
    N_("This product is not available at the moment."),
)
UNKNOWN_RULE = define("unknown_price_rule", ValidationFailed, "rule must be one of %(choices)s", N_("Choose one of the options."))
BAD_RULE_VALUE = define(
    "invalid_price_rule_value",
    ValidationFailed,
    "value must be a non-negative integer (minor units or basis points)",
    N_("Enter a value of zero or more."),
)
BAD_LEVEL = define(
    "invalid_level", ValidationFailed, "level must be between 1 and %(max_depth)s", N_("The level must be between 1 and %(max_depth)s.")
)
DEFAULT_RULE_FIXED = define(
    "default_rule_fixed",
    ValidationFailed,
    "a default rule cannot be a fixed price; use a markup",
    N_("A default rule cannot be a fixed price: use a markup."),
)
LEVEL_BELOW_SUPPLY = define(
    "level_price_below_supply",
    ValidationFailed,
    "a level price may not be below the supply price",
    N_("A level price may not be below the supply price."),
)
CHILD_BELOW_OWN_COST = define(
    "child_price_below_own_cost",
    ValidationFailed,
    "your children's price may not be below your own cost (%(cost_minor)s)",
    N_("Your sub-distributors' price may not be below your own cost (%(cost_minor)s)."),
)
BAD_PRICE = define(
    "invalid_price", ValidationFailed, "price must be a positive integer of minor units", N_("Enter a price above zero, like 19.99.")
)
BELOW_MAP = define(
    "below_map",
    ValidationFailed,
    "retail may not be below the minimum advertised price (%(map_minor)s)",
    N_("Retail may not be below the minimum advertised price (%(map_minor)s)."),
)
BELOW_COST = define(
    "below_cost",
    ValidationFailed,
    "retail may not be below your cost (%(cost_minor)s)",
    N_("Retail may not be below your cost (%(cost_minor)s)."),
)
ABOVE_CEILING = define(
    "above_max_retail",
    ValidationFailed,
    "retail may not exceed %(max_retail_minor)s (maximum markup)",
    N_("Retail may not be above the ceiling (%(max_retail_minor)s)."),
)

# the tree, invites, sub-sites
NOT_A_DISTRIBUTOR = define("not_found", NotFound, "this account is not a distributor", N_("Not found."))
DISTRIBUTOR_NOT_FOUND = define("not_found", NotFound, "distributor %(id)s does not exist", N_("Choose a distributor from the list."))
NO_SHOP = define("not_found", NotFound, "no shop at %(slug)r", N_("Not found."))
INVITE_NOT_FOUND = define("not_found", NotFound, "this invite does not exist", N_("This invite does not exist."))
BAD_MAX_USES = define("invalid_max_uses", ValidationFailed, "max_uses must be between 1 and 1000", N_("Uses must be between 1 and 1000."))
BAD_TTL = define(
    "invalid_ttl_hours", ValidationFailed, "ttl_hours must be between 1 and 2160", N_("Validity must be between 1 and 2160 hours.")
)
INVITE_OWN_BRANCH = define(
    "invite_outside_own_branch", Forbidden, "distributors invite under themselves only", N_("You can only invite under yourself.")
)
INACTIVE_CANNOT_INVITE = define(
    "inactive_cannot_invite",
    Forbidden,
    "a suspended or unapproved distributor cannot invite",
    N_("Your account is not active, so you cannot invite yet."),
)
TOO_DEEP = define(
    "network_too_deep",
    ValidationFailed,
    "the network is at most %(max_depth)s levels deep",
    N_("The network is at most %(max_depth)s levels deep."),
)
SHOP_NAME = define("shop_name_invalid", ValidationFailed, "shop name must be 1–80 characters", N_("The shop name must be 1–80 characters."))
INVITER_INACTIVE = define(
    "inviter_inactive", Conflict, "the inviting distributor is not active", N_("The inviting distributor is not active.")
)
SLUG_TAKEN = define("shop_address_taken", Conflict, "this shop address is taken", N_("This shop address is taken."))
INVITE_USED = define(
    "invite_used_or_expired", Conflict, "this invite has expired or was already used", N_("This invite has expired or was already used.")
)
BAD_SLUG = define(
    "shop_address_invalid",
    ValidationFailed,
    "shop address: 3–40 lower-case letters, digits or hyphens",
    N_("Shop address: 3–40 lower-case letters, digits or hyphens."),
)
NOT_ACTIVE = define(
    "distributor_not_active",
    Forbidden,
    "this distributor is not active (pending approval or suspended)",
    N_("Your account is not active (pending approval or suspended)."),
)
BAD_LOGO = define(
    "logo_url_invalid", ValidationFailed, "logo must be an http(s) URL or a path", N_("The logo must be an http(s) URL or a path.")
)
BAD_HOST = define(
    "host_invalid",
    ValidationFailed,
    "host must be a domain name such as shop.example.com",
    N_("The host must be a domain name such as shop.example.com."),
)
HOST_TAKEN = define("host_taken", Conflict, "another shop uses this host name", N_("Another shop uses this host name."))
