import { apiHandler } from "../shared/handler";
import { HttpError, json } from "../shared/http";
import { getOrder } from "./table";
import { parseOrderIdParameter } from "./validation";

/** GET /orders/{orderId} */
export const handler = apiHandler(async (event) => {
  const orderId = parseOrderIdParameter(event.pathParameters);
  const order = await getOrder(orderId);
  if (!order) throw new HttpError(404, `Order ${orderId} not found`);
  return json(200, order);
});
