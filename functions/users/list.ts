import { apiHandler } from "../shared/handler";
import { json } from "../shared/http";
import { decodeNextToken, encodeNextToken, parsePageSize } from "./pagination";
import { listUsers } from "./table";

/** GET /users?limit=&nextToken= */
export const handler = apiHandler(async (event) => {
  const pageSize = parsePageSize(event.queryStringParameters?.limit);
  const startKey = decodeNextToken(event.queryStringParameters?.nextToken);
  const page = await listUsers(pageSize, startKey);
  return json(
    200,
    page.nextKey ? { items: page.items, nextToken: encodeNextToken(page.nextKey) } : { items: page.items },
  );
});
