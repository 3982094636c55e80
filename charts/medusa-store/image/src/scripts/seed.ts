// storefleet setup seed: makes a fresh Medusa store able to take an order, and changes nothing
// on a store that is already set up. Run by the chart's setup Job after the migrations:
//
//   medusa exec ./src/scripts/seed.js
//
// Every step looks for what it would create first (by name, handle, title or email) and only
// creates or links what is missing, so a retried Job, a re-created Job after an upgrade or a
// second run on a live store converges instead of duplicating. It never deletes anything and never
// overwrites what a merchant may have changed (store name, the administrator's password).
//
// Inputs (environment, from the chart's setup ConfigMap and the credentials Secret):
//   STORE_NAME, ADMIN_EMAIL, ADMIN_PASSWORD,
//   REGION_NAME, REGION_CURRENCY, REGION_COUNTRIES (comma-separated ISO 3166-1 alpha-2),
//   STOCK_LOCATION_NAME, SHIPPING_OPTION_NAME, SHIPPING_PRICE,
//   PRODUCT_TITLE, PRODUCT_HANDLE, PRODUCT_SKU, PRODUCT_PRICE, PUBLISHABLE_KEY_TITLE
// No secret is logged.
import { ExecArgs } from "@medusajs/framework/types"
import {
  ContainerRegistrationKeys,
  Modules,
  ProductStatus,
} from "@medusajs/framework/utils"
import {
  createApiKeysWorkflow,
  createDefaultsWorkflow,
  createProductsWorkflow,
  createRegionsWorkflow,
  createShippingOptionsWorkflow,
  createShippingProfilesWorkflow,
  createStockLocationsWorkflow,
  createTaxRegionsWorkflow,
  createUsersWorkflow,
  linkProductsToSalesChannelWorkflow,
  linkSalesChannelsToApiKeyWorkflow,
  linkSalesChannelsToStockLocationWorkflow,
  updateRegionsWorkflow,
  updateStoresWorkflow,
} from "@medusajs/medusa/core-flows"

// The payment provider every Medusa application has: "system", i.e. manual payment (the order
// is placed, the merchant captures the payment by hand). Fulfillment likewise uses the built-in
// manual provider.
const MANUAL_PAYMENT_PROVIDER = "pp_system_default"
const MANUAL_FULFILLMENT_PROVIDER = "manual_manual"
const SYSTEM_TAX_PROVIDER = "tp_system"
// Medusa names the store and sales channel it creates on first start like this.
const DEFAULT_STORE_NAME = "Medusa Store"

function env(name: string): string {
  const value = process.env[name]
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set (the medusa-store chart's setup ConfigMap sets it)`)
  }
  return value
}

function amount(name: string): number {
  const value = Number(env(name))
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`${name} must be a non-negative amount, got "${process.env[name]}"`)
  }
  return value
}

type Config = {
  storeName: string
  adminEmail: string
  adminPassword: string
  regionName: string
  currency: string
  countries: string[]
  stockLocationName: string
  shippingOptionName: string
  shippingPrice: number
  productTitle: string
  productHandle: string
  productSku: string
  productPrice: number
  publishableKeyTitle: string
}

function readConfig(): Config {
  const countries = env("REGION_COUNTRIES")
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c.length > 0)
  if (countries.length === 0) {
    throw new Error("REGION_COUNTRIES names no country")
  }
  return {
    storeName: env("STORE_NAME"),
    adminEmail: env("ADMIN_EMAIL").toLowerCase(),
    adminPassword: env("ADMIN_PASSWORD"),
    regionName: env("REGION_NAME"),
    currency: env("REGION_CURRENCY").toLowerCase(),
    countries,
    stockLocationName: env("STOCK_LOCATION_NAME"),
    shippingOptionName: env("SHIPPING_OPTION_NAME"),
    shippingPrice: amount("SHIPPING_PRICE"),
    productTitle: env("PRODUCT_TITLE"),
    productHandle: env("PRODUCT_HANDLE"),
    productSku: env("PRODUCT_SKU"),
    productPrice: amount("PRODUCT_PRICE"),
    publishableKeyTitle: env("PUBLISHABLE_KEY_TITLE"),
  }
}

export default async function storefleetSeed({ container }: ExecArgs) {
  const config = readConfig()
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const link = container.resolve(ContainerRegistrationKeys.LINK)
  // Module services are typed loosely on purpose: the calls below are the stable list/create
  // methods every Medusa 2.x module has, and the seed must not break on a typing change.
  const storeModule: any = container.resolve(Modules.STORE)
  const regionModule: any = container.resolve(Modules.REGION)
  const taxModule: any = container.resolve(Modules.TAX)
  const stockLocationModule: any = container.resolve(Modules.STOCK_LOCATION)
  const fulfillmentModule: any = container.resolve(Modules.FULFILLMENT)
  const apiKeyModule: any = container.resolve(Modules.API_KEY)
  const productModule: any = container.resolve(Modules.PRODUCT)
  const userModule: any = container.resolve(Modules.USER)
  const authModule: any = container.resolve(Modules.AUTH)

  const step = (message: string) => logger.info(`storefleet-setup: ${message}`)

  // 1. The store and its default sales channel (Medusa creates them on first start; the
  //    workflow creates only what is missing).
  await createDefaultsWorkflow(container).run()
  const [store] = await storeModule.listStores({}, { relations: ["supported_currencies"] })
  if (!store) {
    throw new Error("Medusa has no store after createDefaultsWorkflow")
  }
  const salesChannelId: string = store.default_sales_channel_id
  if (!salesChannelId) {
    throw new Error("the store has no default sales channel")
  }
  const storeUpdate: Record<string, unknown> = {}
  // The name is set once, like WordPress's site title: a merchant may rename the store later.
  if (store.name === DEFAULT_STORE_NAME && config.storeName !== DEFAULT_STORE_NAME) {
    storeUpdate.name = config.storeName
  }
  const currencies: { currency_code: string; is_default?: boolean }[] = (
    store.supported_currencies ?? []
  ).map((c: any) => ({ currency_code: c.currency_code, is_default: c.is_default }))
  if (!currencies.some((c) => c.currency_code === config.currency)) {
    const hasDefault = currencies.some((c) => c.is_default)
    currencies.push({ currency_code: config.currency, is_default: !hasDefault })
    storeUpdate.supported_currencies = currencies
  }
  if (Object.keys(storeUpdate).length > 0) {
    await updateStoresWorkflow(container).run({
      input: { selector: { id: store.id }, update: storeUpdate },
    })
    step(`store updated (${Object.keys(storeUpdate).join(", ")})`)
  } else {
    step("store is already set up")
  }

  // 2. The region, with the manual payment provider.
  let [region] = await regionModule.listRegions({ name: config.regionName })
  if (!region) {
    const { result } = await createRegionsWorkflow(container).run({
      input: {
        regions: [
          {
            name: config.regionName,
            currency_code: config.currency,
            countries: config.countries,
            payment_providers: [MANUAL_PAYMENT_PROVIDER],
            automatic_taxes: true,
          },
        ],
      },
    })
    region = result[0]
    step(`region "${config.regionName}" created (${region.id})`)
  } else {
    const { data } = await query.graph({
      entity: "region",
      fields: ["id", "payment_providers.id"],
      filters: { id: region.id },
    })
    const providers: string[] = (data[0]?.payment_providers ?? []).map((p: any) => p.id)
    if (!providers.includes(MANUAL_PAYMENT_PROVIDER)) {
      await updateRegionsWorkflow(container).run({
        input: {
          selector: { id: region.id },
          update: { payment_providers: [...providers, MANUAL_PAYMENT_PROVIDER] },
        },
      })
      step(`manual payment provider enabled in region "${config.regionName}"`)
    } else {
      step(`region "${config.regionName}" exists with the manual payment provider`)
    }
  }

  // 3. Tax regions for the region's countries (no rates: prices are taken as they are).
  const missingTax: string[] = []
  for (const country_code of config.countries) {
    const existing = await taxModule.listTaxRegions({ country_code, parent_id: null })
    if (existing.length === 0) {
      missingTax.push(country_code)
    }
  }
  if (missingTax.length > 0) {
    await createTaxRegionsWorkflow(container).run({
      input: missingTax.map((country_code) => ({
        country_code,
        provider_id: SYSTEM_TAX_PROVIDER,
      })),
    })
    step(`tax regions created for ${missingTax.join(", ")}`)
  }

  // 4. A stock location that ships with the manual fulfillment provider to the region's
  //    countries, sold through the default sales channel.
  let [location] = await stockLocationModule.listStockLocations({
    name: config.stockLocationName,
  })
  if (!location) {
    const { result } = await createStockLocationsWorkflow(container).run({
      input: {
        locations: [
          {
            name: config.stockLocationName,
            address: { address_1: "", country_code: config.countries[0].toUpperCase() },
          },
        ],
      },
    })
    location = result[0]
    step(`stock location "${config.stockLocationName}" created (${location.id})`)
  }
  if (!store.default_location_id) {
    await updateStoresWorkflow(container).run({
      input: { selector: { id: store.id }, update: { default_location_id: location.id } },
    })
  }
  const locationLinks = async () => {
    const { data } = await query.graph({
      entity: "stock_location",
      fields: ["id", "sales_channels.id", "fulfillment_providers.id", "fulfillment_sets.id"],
      filters: { id: location.id },
    })
    const row = data[0] ?? {}
    const ids = (list: any[] | null | undefined) => (list ?? []).filter(Boolean).map((x: any) => x.id)
    return {
      salesChannels: ids(row.sales_channels),
      providers: ids(row.fulfillment_providers),
      fulfillmentSets: ids(row.fulfillment_sets),
    }
  }
  let links = await locationLinks()
  if (!links.salesChannels.includes(salesChannelId)) {
    await linkSalesChannelsToStockLocationWorkflow(container).run({
      input: { id: location.id, add: [salesChannelId] },
    })
    step("stock location linked to the default sales channel")
  }
  if (!links.providers.includes(MANUAL_FULFILLMENT_PROVIDER)) {
    await link.create({
      [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
      [Modules.FULFILLMENT]: { fulfillment_provider_id: MANUAL_FULFILLMENT_PROVIDER },
    })
    step("manual fulfillment provider enabled at the stock location")
  }

  let [profile] = await fulfillmentModule.listShippingProfiles({ type: "default" })
  if (!profile) {
    const { result } = await createShippingProfilesWorkflow(container).run({
      input: { data: [{ name: "Default Shipping Profile", type: "default" }] },
    })
    profile = result[0]
    step(`default shipping profile created (${profile.id})`)
  }

  const fulfillmentSetName = `${config.stockLocationName} shipping`
  let [fulfillmentSet] = await fulfillmentModule.listFulfillmentSets(
    { name: fulfillmentSetName },
    { relations: ["service_zones"] }
  )
  if (!fulfillmentSet) {
    fulfillmentSet = await fulfillmentModule.createFulfillmentSets({
      name: fulfillmentSetName,
      type: "shipping",
      service_zones: [
        {
          name: config.regionName,
          geo_zones: config.countries.map((country_code) => ({ type: "country", country_code })),
        },
      ],
    })
    step(`fulfillment set "${fulfillmentSetName}" created (${fulfillmentSet.id})`)
  }
  links = await locationLinks()
  if (!links.fulfillmentSets.includes(fulfillmentSet.id)) {
    await link.create({
      [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
      [Modules.FULFILLMENT]: { fulfillment_set_id: fulfillmentSet.id },
    })
    step("fulfillment set linked to the stock location")
  }
  const serviceZone = fulfillmentSet.service_zones?.[0]
  if (!serviceZone) {
    throw new Error(`fulfillment set "${fulfillmentSetName}" has no service zone`)
  }

  const [shippingOption] = await fulfillmentModule.listShippingOptions({
    name: config.shippingOptionName,
    service_zone_id: serviceZone.id,
  })
  if (!shippingOption) {
    await createShippingOptionsWorkflow(container).run({
      input: [
        {
          name: config.shippingOptionName,
          price_type: "flat",
          provider_id: MANUAL_FULFILLMENT_PROVIDER,
          service_zone_id: serviceZone.id,
          shipping_profile_id: profile.id,
          type: { label: "Standard", description: "Standard shipping.", code: "standard" },
          prices: [
            { currency_code: config.currency, amount: config.shippingPrice },
            { region_id: region.id, amount: config.shippingPrice },
          ],
          rules: [
            { attribute: "enabled_in_store", value: "true", operator: "eq" },
            { attribute: "is_return", value: "false", operator: "eq" },
          ],
        },
      ] as any,
    })
    step(`shipping option "${config.shippingOptionName}" created`)
  }

  // 5. The publishable API key storefronts (and the helm test) send with every Store API call.
  const keys = (
    await apiKeyModule.listApiKeys({ title: config.publishableKeyTitle, type: "publishable" })
  ).filter((k: any) => !k.revoked_at)
  let apiKey = keys[0]
  if (!apiKey) {
    const { result } = await createApiKeysWorkflow(container).run({
      input: {
        api_keys: [{ title: config.publishableKeyTitle, type: "publishable", created_by: "" }],
      },
    })
    apiKey = result[0]
    step(`publishable API key "${config.publishableKeyTitle}" created (${apiKey.id})`)
  }
  {
    const { data } = await query.graph({
      entity: "api_key",
      fields: ["id", "sales_channels.id"],
      filters: { id: apiKey.id },
    })
    const channels = (data[0]?.sales_channels ?? []).filter(Boolean).map((c: any) => c.id)
    if (!channels.includes(salesChannelId)) {
      await linkSalesChannelsToApiKeyWorkflow(container).run({
        input: { id: apiKey.id, add: [salesChannelId] },
      })
      step("publishable API key linked to the default sales channel")
    }
  }

  // 6. The sample product: one variant, no inventory tracking, sold in the default channel.
  let [product] = await productModule.listProducts({ handle: config.productHandle })
  if (!product) {
    const { result } = await createProductsWorkflow(container).run({
      input: {
        products: [
          {
            title: config.productTitle,
            handle: config.productHandle,
            status: ProductStatus.PUBLISHED,
            shipping_profile_id: profile.id,
            options: [{ title: "Default option", values: ["Default option value"] }],
            variants: [
              {
                title: config.productTitle,
                sku: config.productSku,
                manage_inventory: false,
                options: { "Default option": "Default option value" },
                prices: [{ currency_code: config.currency, amount: config.productPrice }],
              },
            ],
            sales_channels: [{ id: salesChannelId }],
          },
        ],
      } as any,
    })
    product = result[0]
    step(`sample product "${config.productHandle}" created (${product.id})`)
  } else {
    const { data } = await query.graph({
      entity: "product",
      fields: ["id", "sales_channels.id"],
      filters: { id: product.id },
    })
    const channels = (data[0]?.sales_channels ?? []).filter(Boolean).map((c: any) => c.id)
    if (!channels.includes(salesChannelId)) {
      await linkProductsToSalesChannelWorkflow(container).run({
        input: { id: salesChannelId, add: [product.id] },
      })
      step("sample product linked to the default sales channel")
    } else {
      step(`sample product "${config.productHandle}" exists (${product.id})`)
    }
  }

  // 7. The administrator (admin dashboard at /app): a user plus an email/password identity
  //    whose app_metadata names the user. An existing identity keeps its password.
  let [user] = await userModule.listUsers({ email: config.adminEmail })
  if (!user) {
    const { result } = await createUsersWorkflow(container).run({
      input: { users: [{ email: config.adminEmail }] },
    })
    user = result[0]
    step(`administrator user created (${user.id})`)
  }
  const credentials = { body: { email: config.adminEmail, password: config.adminPassword } }
  const registered = await authModule.register("emailpass", credentials)
  let identity = registered.success ? registered.authIdentity : undefined
  if (!identity) {
    // The identity exists already (a retry, or a second run). Authenticate to read it; if the
    // merchant has changed the password since, leave it alone.
    const authenticated = await authModule.authenticate("emailpass", credentials)
    identity = authenticated.success ? authenticated.authIdentity : undefined
    if (!identity) {
      step("administrator identity exists with another password; left unchanged")
    }
  }
  if (identity && identity.app_metadata?.user_id !== user.id) {
    await authModule.updateAuthIdentities({
      id: identity.id,
      app_metadata: { ...(identity.app_metadata ?? {}), user_id: user.id },
    })
    step("administrator identity linked to the user")
  }

  step(
    `store ready: region "${config.regionName}" (${config.currency}, manual payment), ` +
      `product "${config.productHandle}", publishable key "${config.publishableKeyTitle}"`
  )
}
