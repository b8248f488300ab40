import { defineService } from "../shared/service-declaration";

/** The users API: a table of users and a function per route, on the stage's API under `/users`. */
export const usersService = defineService({
  name: "users",
  api: { basePath: "/users" },
  tables: {
    users: { hashKey: { name: "userId", type: "S" }, env: "TABLE_NAME" },
  },
  functions: {
    list: {
      handler: "functions/users/list.ts",
      trigger: {
        type: "http",
        route: "GET /users",
        smoke: { path: "/users?limit=1", expectStatus: 200, expectBody: '"items"' },
      },
      access: { tables: { users: "read" } },
    },
    get: {
      handler: "functions/users/get.ts",
      trigger: {
        type: "http",
        route: "GET /users/{userId}",
        smoke: { path: "/users/__smoke__", expectStatus: 404 },
      },
      access: { tables: { users: "read" } },
    },
    create: {
      handler: "functions/users/create.ts",
      trigger: {
        type: "http",
        route: "POST /users",
        // An invalid body is rejected before any write: the smoke test never creates a user.
        smoke: { path: "/users", body: "{}", expectStatus: 400, expectBody: "name is required" },
      },
      access: { tables: { users: "write" } },
    },
    update: {
      handler: "functions/users/update.ts",
      trigger: {
        type: "http",
        route: "PUT /users/{userId}",
        // The 400 must be the body's (the path is valid): a path rejected for its parameter would pass too.
        smoke: { path: "/users/__smoke__", body: "{}", expectStatus: 400, expectBody: "name is required" },
      },
      access: { tables: { users: "write" } },
    },
    delete: {
      handler: "functions/users/delete.ts",
      trigger: {
        type: "http",
        route: "DELETE /users/{userId}",
        smoke: { path: "/users/__smoke__", expectStatus: 404 },
      },
      access: { tables: { users: "write" } },
    },
  },
});
