import { apiHandler } from "../shared/handler";
import { noContent } from "../shared/http";
import { deleteUser } from "./table";
import { parseUserIdParameter } from "./validation";

/** DELETE /users/{userId} */
export const handler = apiHandler(async (event) => {
  await deleteUser(parseUserIdParameter(event.pathParameters));
  return noContent();
});
