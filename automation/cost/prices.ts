/**
 * Every price the cost estimate uses, in US dollars, us-east-1 list prices: the one place to
 * update when AWS changes them. No free tier, Savings Plans or taxes are applied.
 */
export const PRICES = {
  lambda: {
    /** The guide (コスト最適化, Lambda料金モデル): $0.20 per million requests, either architecture. */
    perMillionRequests: 0.2,
    /** The guide: $0.0000166667 per GB-second of duration on x86_64. */
    x86PerGbSecond: 0.0000166667,
    /**
     * AWS's published arm64 (Graviton) duration price: 20% below x86_64, the saving the guide
     * quotes for ARM64 (最大20%). 0.0000166667 × 0.8 rounds to this published figure.
     */
    arm64PerGbSecond: 0.0000133334,
    /**
     * The guide (Provisioned Concurrency判断, 料金): $0.0000041667 per GB-second, billed for every
     * second the configuration exists, whether or not it serves requests.
     */
    provisionedConcurrencyPerGbSecond: 0.0000041667,
  },
  apiGateway: {
    /**
     * REST API requests, first tier (the first 333 million requests a month per account and
     * region): $3.50 per million (https://aws.amazon.com/api-gateway/pricing/). Higher tiers are
     * cheaper, so above 333 million requests this overestimates.
     */
    restPerMillionRequests: 3.5,
  },
  dynamodb: {
    /**
     * On-demand read request units: $0.125 per million, and write request units: $0.625 per
     * million, in us-east-1 since AWS halved on-demand throughput prices on 1 November 2024
     * (https://aws.amazon.com/dynamodb/pricing/on-demand/; before then $0.25 and $1.25).
     */
    onDemandPerMillionReadUnits: 0.125,
    onDemandPerMillionWriteUnits: 0.625,
  },
  sqs: {
    /**
     * Standard queue requests (SendMessage, ReceiveMessage, DeleteMessage, ...; each 64 KB of a
     * payload counts as one request): $0.40 per million up to 100 billion a month
     * (https://aws.amazon.com/sqs/pricing/). The first million a month are free; not applied here.
     */
    standardPerMillionRequests: 0.4,
  },
  dynamodbStreams: {
    /**
     * Streams read request units (one per GetRecords call): $0.02 per 100,000. GetRecords calls made
     * by Lambda event source mappings are not charged (https://aws.amazon.com/dynamodb/pricing/on-demand/).
     */
    perMillionReadRequestUnits: 0.2,
  },
  scheduler: {
    /**
     * EventBridge Scheduler invocations: $1.00 per million after 14 million free a month
     * (https://aws.amazon.com/eventbridge/pricing/); the free tier is not applied here.
     */
    perMillionInvocations: 1.0,
  },
  /** AWS's billing month: 730 hours (365 days × 24 h / 12), for charges by the second. */
  hoursPerMonth: 730,
} as const;

export type Prices = typeof PRICES;
