import { apiHandler } from "../shared/handler";
import { createdLocation, json, parseJsonObjectBody } from "../shared/http";
import { createUser } from "./table";
import { parseNewUser } from "./validation";

/** POST /users */
export const handler = apiHandler(async (event) => {
  const newUser = parseNewUser(parseJsonObjectBody(event));
  const user = await createUser(newUser);
  return json(201, user, { Location: createdLocation(event, user.userId, "/users") });
});
