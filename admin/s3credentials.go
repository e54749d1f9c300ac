package admin

import (
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// maxClaimsBytes caps a credential's claims (JSON text).
const maxClaimsBytes = 16 << 10

// createCredentialBody is the reference's create schema: description (3 to 2000
// characters) and optional claims with a string role (required there), sub and more.
type createCredentialBody struct {
	Description *json.RawMessage `json:"description"`
	Claims      *json.RawMessage `json:"claims"`
}

// credentialView is one entry of the list answer.
type credentialView struct {
	ID          string    `json:"id"`
	Description string    `json:"description"`
	AccessKey   string    `json:"access_key"`
	CreatedAt   time.Time `json:"created_at"`
}

// createCredential answers 201 {id, access_key, secret_key, description}: the only time
// the secret is shown.
func (h *Handler) createCredential(c *fiber.Ctx) error {
	e, release, err := h.engineFor(c)
	if err != nil {
		return err
	}
	defer release()
	var body createCredentialBody
	if err := h.readJSON(c, &body); err != nil {
		return err
	}
	desc, claims, err := parseCreateCredential(body)
	if err != nil {
		return err
	}
	cred, secret, err := e.CreateS3Credential(c.UserContext(), gateway.NewS3Credential{Description: desc, Claims: claims})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": cred.ID, "access_key": cred.AccessKey,
		"secret_key": secret, "description": desc})
}

// parseCreateCredential applies the reference's JSON schema, with its messages.
func parseCreateCredential(body createCredentialBody) (string, map[string]any, error) {
	if body.Description == nil {
		return "", nil, validation(400, "body must have required property 'description'")
	}
	var desc string
	if json.Unmarshal(*body.Description, &desc) != nil {
		return "", nil, validation(400, "body/description must be string")
	}
	switch n := len([]rune(desc)); {
	case n < 3:
		return "", nil, validation(400, "body/description must NOT have fewer than 3 characters")
	case n > 2000:
		return "", nil, validation(400, "body/description must NOT have more than 2000 characters")
	}
	if body.Claims == nil {
		return desc, nil, nil
	}
	if len(*body.Claims) > maxClaimsBytes {
		// Every request with the credential carries its claims (request.jwt.claims, a
		// minted token): they stay small.
		return "", nil, validation(400, "body/claims must NOT be larger than 16384 bytes")
	}
	var claims map[string]any
	if json.Unmarshal(*body.Claims, &claims) != nil || claims == nil {
		return "", nil, validation(400, "body/claims must be object")
	}
	role, ok := claims["role"]
	if !ok {
		return "", nil, validation(400, "body/claims must have required property 'role'")
	}
	if _, ok := role.(string); !ok {
		return "", nil, validation(400, "body/claims/role must be string")
	}
	if sub, ok := claims["sub"]; ok {
		if _, ok := sub.(string); !ok {
			return "", nil, validation(400, "body/claims/sub must be string")
		}
	}
	return desc, claims, nil
}

func (h *Handler) listCredentials(c *fiber.Ctx) error {
	e, release, err := h.engineFor(c)
	if err != nil {
		return err
	}
	defer release()
	creds, err := e.ListS3Credentials(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]credentialView, 0, len(creds))
	for _, cr := range creds {
		out = append(out, credentialView{ID: cr.ID, Description: cr.Description, AccessKey: cr.AccessKey, CreatedAt: cr.CreatedAt})
	}
	return c.JSON(out)
}

// deleteCredential takes {"id": ...} and answers 204, whether or not the id existed, as
// the reference does.
func (h *Handler) deleteCredential(c *fiber.Ctx) error {
	e, release, err := h.engineFor(c)
	if err != nil {
		return err
	}
	defer release()
	var body struct {
		ID *json.RawMessage `json:"id"`
	}
	if err := h.readJSON(c, &body); err != nil {
		return err
	}
	if body.ID == nil {
		return validation(400, "body must have required property 'id'")
	}
	var id string
	if json.Unmarshal(*body.ID, &id) != nil {
		return validation(400, "body/id must be string")
	}
	if _, err := e.DeleteS3Credential(c.UserContext(), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
